"""report.md (Markdown tables via tabulate) and report.html (self-contained but for the PNGs)."""

import html
import re

from neurotoolkit._utils.io import atomic_write_text

__all__ = ["write_reports"]

_CSS = """body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem;
line-height:1.45;color:#222}table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.9rem}
th,td{border:1px solid #ccc;padding:.2rem .5rem;text-align:right}th{background:#f3f3f3}
img{max-width:100%}code{background:#f5f5f5;padding:0 .2rem}.cap{color:#555}"""


def _inline(text):
    """Escape text for HTML, keeping `code` and **bold** spans."""
    out = html.escape(text)
    out = re.sub(r"`([^`]+)`", r"<code>\1</code>", out)
    return re.sub(r"\*\*([^*]+)\*\*", r"<b>\1</b>", out)


def _paragraphs_html(text):
    blocks = [b.strip() for b in re.split(r"\n\s*\n", text) if b.strip()]
    parts = []
    for block in blocks:
        lines = block.splitlines()
        if all(line.lstrip().startswith(("- ", "* ")) for line in lines):
            items = "".join(f"<li>{_inline(line.lstrip()[2:])}</li>" for line in lines)
            parts.append(f"<ul>{items}</ul>")
        else:
            parts.append(f"<p>{_inline(' '.join(lines))}</p>")
    return "\n".join(parts)


def _table_md(item):
    df = item["df"]
    return df.to_markdown(index=item.get("index", False), floatfmt=item.get("floatfmt", ".3g"))


def _table_html(item):
    df = item["df"]
    fmt = item.get("floatfmt", ".3g")
    return df.to_html(index=item.get("index", False), border=0,
                      float_format=lambda v: format(v, fmt), na_rep="")


def write_reports(run, title, summary_lines):
    """Write ``report.md`` and ``report.html`` of a :class:`~._runner.Run`; returns their paths."""
    md = [f"# {title}", "", f"Pipeline `{run.pipeline}`; config: `config.yaml` (every default "
          "filled in); outputs and their sha256 in `manifest.json`.", ""]
    body = [f"<h1>{html.escape(title)}</h1>",
            f"<p class='cap'>Pipeline <code>{html.escape(run.pipeline)}</code>; config: "
            "<code>config.yaml</code>; outputs and their sha256 in <code>manifest.json</code>.</p>"]
    if summary_lines:
        md += [f"- {line}" for line in summary_lines] + [""]
        body.append("<ul>" + "".join(f"<li>{_inline(line)}</li>" for line in summary_lines) + "</ul>")
    for section in run.sections:
        if section[0] == "text":
            _, heading, text = section
            md += [f"## {heading}", "", text.strip(), ""]
            body += [f"<h2>{html.escape(heading)}</h2>", _paragraphs_html(text)]
            continue
        item = run.outputs[section[1]]
        heading = item["name"].replace("_", " ")
        md += [f"## {heading}", ""]
        body.append(f"<h2>{html.escape(heading)}</h2>")
        if item["caption"]:
            md += [item["caption"], ""]
            body.append(f"<p class='cap'>{_inline(item['caption'])}</p>")
        if item["kind"] == "table":
            md += [_table_md(item), "", f"(`{item['path'].name}`)", ""]
            body += [_table_html(item), f"<p class='cap'><code>{item['path'].name}</code></p>"]
        else:
            alt = item["caption"].split(".")[0] if item["caption"] else heading
            md += [f"![{alt}]({item['path'].name})", ""]
            body.append(f"<img src='{item['path'].name}' alt='{html.escape(alt)}'>")
    versions = ", ".join(f"{k} {v}" for k, v in run.environment["packages"].items() if v)
    md += ["## Environment", "", f"Python {run.environment['python']} on "
           f"{run.environment['platform']}; {versions}.", ""]
    body += ["<h2>Environment</h2>", f"<p class='cap'>Python {run.environment['python']} on "
             f"{html.escape(run.environment['platform'])}; {html.escape(versions)}.</p>"]
    md_path = run.output_dir / "report.md"
    html_path = run.output_dir / "report.html"
    atomic_write_text(md_path, "\n".join(md).rstrip() + "\n")
    page = ("<!DOCTYPE html>\n<html><head><meta charset='utf-8'>"
            f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")
    atomic_write_text(html_path, page)
    return [md_path, html_path]
