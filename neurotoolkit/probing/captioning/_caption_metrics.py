"""Caption metrics: BLEU-1..4, ROUGE-L, CIDEr(-D), METEOR and an embedding similarity.

BLEU, ROUGE-L and CIDEr follow the MS-COCO caption evaluation code
(``pycocoevalcap``) exactly; the built-in versions here are ports of it, so
they give the same numbers without the package, and the package's scorers are
used when it is installed (``implementation="auto"``). METEOR needs ``pycocoevalcap``
and Java; where either is missing it is NaN and the reason is logged.
"""

import re
import shutil
from collections import defaultdict

import numpy as np
import pandas as pd

from ..._utils.docs import fill_doc
from ..._utils.logging import logger, verbose, warn
from ..._utils.validation import check_option, describe

__all__ = ["caption_scores", "tokenize_caption"]

METRICS = ("BLEU-1", "BLEU-2", "BLEU-3", "BLEU-4", "ROUGE-L", "CIDEr", "METEOR", "embedding_similarity")
_PUNCT = {"''", "'", "``", "`", "-lrb-", "-rrb-", "-lcb-", "-rcb-", ".", "?", "!", ",", ":", "-", "--",
          "...", ";", "(", ")", "[", "]", "{", "}", '"'}
_TOKEN = re.compile(r"n't|'s|'re|'ve|'ll|'d|'m|\.\.\.|--|[a-z0-9]+(?:[-./][a-z0-9]+)*|[^\sa-z0-9]")


def tokenize_caption(text):
    """Lower-case, PTB-like tokens with punctuation removed, joined by spaces.

    A pure-Python stand-in for the Stanford PTBTokenizer that ``pycocoevalcap``
    runs in Java: splits punctuation and clitics ("dog's" -> "dog 's"), keeps
    hyphenated words, drops the punctuation tokens COCO drops.
    """
    text = str(text).lower().replace("\n", " ")
    return " ".join(t for t in _TOKEN.findall(text) if t not in _PUNCT)


# ---------------------------------------------------------------------------- built-in scorers
def _ngrams(words, n=4):
    counts = defaultdict(int)
    for k in range(1, n + 1):
        for i in range(len(words) - k + 1):
            counts[tuple(words[i:i + k])] += 1
    return counts


def _bleu(cands, refs, n=4):
    """pycocoevalcap BLEU ("closest" reference length): corpus scores (n,), per caption (n, N)."""
    small, tiny = 1e-9, 1e-15
    total_guess, total_correct = np.zeros(n), np.zeros(n)
    total_test = total_ref = 0.0
    per = np.zeros((n, len(cands)))
    for j, (c, rs) in enumerate(zip(cands, refs)):
        words = c.split()
        counts = _ngrams(words, n)
        maxcounts = {}
        for r in rs:
            for g, k in _ngrams(r.split(), n).items():
                maxcounts[g] = max(maxcounts.get(g, 0), k)
        testlen = len(words)
        reflen = min((abs(len(r.split()) - testlen), len(r.split())) for r in rs)[1]
        guess = np.array([max(0, testlen - k + 1) for k in range(1, n + 1)], float)
        correct = np.zeros(n)
        for g, k in counts.items():
            correct[len(g) - 1] += min(maxcounts.get(g, 0), k)
        total_guess += guess
        total_correct += correct
        total_test += testlen
        total_ref += reflen
        bleu = 1.0
        for k in range(n):
            bleu *= (correct[k] + tiny) / (guess[k] + small)
            per[k, j] = bleu ** (1.0 / (k + 1))
        ratio = (testlen + tiny) / (reflen + small)
        if ratio < 1:
            per[:, j] *= np.exp(1 - 1 / ratio)
    scores, bleu = np.zeros(n), 1.0
    for k in range(n):
        bleu *= (total_correct[k] + tiny) / (total_guess[k] + small)
        scores[k] = bleu ** (1.0 / (k + 1))
    ratio = (total_test + tiny) / (total_ref + small)
    if ratio < 1:
        scores *= np.exp(1 - 1 / ratio)
    return scores, per


def _lcs(a, b):
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def _rouge_l(cands, refs, beta=1.2):
    """pycocoevalcap ROUGE-L: F-measure (beta 1.2) of the best precision and best recall."""
    out = np.zeros(len(cands))
    for j, (c, rs) in enumerate(zip(cands, refs)):
        tc = c.split(" ")
        lcs = [_lcs(r.split(" "), tc) for r in rs]
        p = max(v / len(tc) for v in lcs)
        r = max(v / len(rr.split(" ")) for v, rr in zip(lcs, rs))
        out[j] = (1 + beta**2) * p * r / (r + beta**2 * p) if p and r else 0.0
    return out


def _cider_d(cands, refs, n=4, sigma=6.0):
    """pycocoevalcap CIDEr (i.e. CIDEr-D: clipped tf-idf n-gram cosine, length penalty, x10).

    The idf comes from the references of this corpus; the length used in the
    penalty is the number of bigrams, as in the reference code.
    """
    crefs = [[_ngrams(r.split(), n) for r in rs] for rs in refs]
    df = defaultdict(float)
    for rs in crefs:
        for g in {g for r in rs for g in r}:
            df[g] += 1
    log_n = np.log(float(len(crefs)))

    def vec(counts):
        v = [{} for _ in range(n)]
        norm = np.zeros(n)
        length = 0
        for g, tf in counts.items():
            k = len(g) - 1
            v[k][g] = float(tf) * (log_n - np.log(max(1.0, df.get(g, 0.0))))
            norm[k] += v[k][g] ** 2
            if k == 1:
                length += tf
        return v, np.sqrt(norm), length

    out = np.zeros(len(cands))
    for j, (c, rs) in enumerate(zip(cands, crefs)):
        vh, nh, lh = vec(_ngrams(c.split(), n))
        total = np.zeros(n)
        for r in rs:
            vr, nr, lr = vec(r)
            val = np.zeros(n)
            for k in range(n):
                for g, x in vh[k].items():
                    y = vr[k].get(g, 0.0)
                    val[k] += min(x, y) * y
                if nh[k] != 0 and nr[k] != 0:
                    val[k] /= nh[k] * nr[k]
                val[k] *= np.exp(-((lh - lr) ** 2) / (2 * sigma**2))
            total += val
        out[j] = np.mean(total) / len(rs) * 10.0
    return out


# ---------------------------------------------------------------------------- library scorers
def _has_coco():
    try:
        import pycocoevalcap  # noqa: F401

        return True
    except ImportError:
        return False


def _coco_scores(cands, refs):
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    gts = {i: list(r) for i, r in enumerate(refs)}
    res = {i: [c] for i, c in enumerate(cands)}
    bleu, bleu_per = Bleu(4).compute_score(gts, res, verbose=0)
    _, rouge = Rouge().compute_score(gts, res)
    _, cider = Cider().compute_score(gts, res)
    return np.asarray(bleu), np.asarray(bleu_per), np.asarray(rouge), np.asarray(cider)


def _meteor(cands, refs):
    """(per-caption scores, corpus score) from pycocoevalcap's METEOR 1.5 (Java), or a reason."""
    if not _has_coco():
        return None, "pycocoevalcap is not installed (pip install pycocoevalcap)"
    if shutil.which("java") is None:
        return None, "METEOR 1.5 runs in Java and no `java` executable was found"
    try:
        from pycocoevalcap.meteor.meteor import Meteor

        scorer = Meteor()
        try:
            score, per = scorer.compute_score({i: list(r) for i, r in enumerate(refs)},
                                              {i: [c] for i, c in enumerate(cands)})
        finally:
            del scorer
        return (np.asarray(per, float), float(score)), None
    except Exception as err:  # noqa: BLE001  (Java errors, missing paraphrase data: METEOR is then NaN)
        return None, f"METEOR failed ({type(err).__name__}: {str(err)[:120]})"


def _ptb_tokenize(texts):
    """COCO's tokenisation: Stanford PTBTokenizer (the jar shipped in pycocoevalcap), lower-cased,
    COCO's punctuation list removed. Runs in Java, reading stdin (no temporary files)."""
    import os
    import subprocess

    from pycocoevalcap.tokenizer import ptbtokenizer as ptb

    folder = os.path.dirname(os.path.abspath(ptb.__file__))
    cmd = ["java", "-cp", os.path.join(folder, ptb.STANFORD_CORENLP_3_4_1_JAR),
           "edu.stanford.nlp.process.PTBTokenizer", "-preserveLines", "-lowerCase"]
    text = "\n".join(str(t).replace("\n", " ").replace("\r", " ") for t in texts) + "\n"
    proc = subprocess.run(cmd, input=text.encode(), capture_output=True, check=False)
    lines = proc.stdout.decode().split("\n")
    if proc.returncode != 0 or len(lines) < len(texts):
        raise RuntimeError(f"PTBTokenizer failed: {proc.stderr.decode()[-300:]}")
    logger.debug("PTBTokenizer: %s", proc.stderr.decode().strip())
    punct = set(ptb.PUNCTUATIONS)
    return [" ".join(w for w in line.rstrip().split(" ") if w not in punct) for line in lines[: len(texts)]]


# ---------------------------------------------------------------------------- public
def _check_inputs(candidates, references, protocol):
    if isinstance(candidates, str) or not len(candidates):
        raise ValueError(
            f"Invalid value for `candidates`: expected a non-empty list of str, got {describe(candidates)}."
        )
    if isinstance(references, str) or len(references) != len(candidates):
        raise ValueError(
            f"Invalid value for `references`: expected {len(candidates)} entries (one str or list of "
            f"str per candidate), got {describe(references)}."
        )
    refs = []
    for i, r in enumerate(references):
        r = [r] if isinstance(r, str) else [str(x) for x in r]
        if not r:
            raise ValueError(f"Invalid value for `references`: entry {i} has no reference caption.")
        refs.append(r[:1] if protocol == "first" else r)
    return [str(c) for c in candidates], refs


@fill_doc
@verbose
def caption_scores(candidates, references, protocol="all", metrics=None, text_embedder=None,
                   implementation="auto", tokenize="auto", per_caption=False, verbose=None,
                   backend=None):
    """Score generated captions against reference captions.

    Parameters
    ----------
    candidates : sequence of str, length n_captions
        One generated caption per stimulus.
    references : sequence of (str | sequence of str), length n_captions
        The reference caption(s) of each stimulus.
    protocol : "all" | "first"
        "all" scores each candidate against all its references (the
        BrainHub protocol for NSD/COCO: ~5 references per image). "first"
        keeps only the first reference of each stimulus (one reference, as in
        MindEye2; note MindEye2 used Hugging Face ``evaluate`` METEOR/ROUGE,
        whose scales differ). Scores from the two protocols are not comparable:
        never put them in one table.
    metrics : sequence of str | None
        Subset of "BLEU-1".."BLEU-4", "ROUGE-L", "CIDEr", "METEOR",
        "embedding_similarity"; None computes all.
    text_embedder : callable | None
        For "embedding_similarity": a function mapping a list of str to an
        array (n_texts, n_dims), e.g. a sentence-transformer's ``encode``
        (MindEye2: all-MiniLM-L6-v2) or a CLIP text encoder. None is the
        offline default, :class:`TfidfTextEmbedder` (TF-IDF of content words)
        fitted on all candidates and references of the call.
        The score is the cosine of each candidate with each of its
        references, averaged over references, then over captions.
    implementation : "auto" | "pycocoevalcap" | "builtin"
        Implementation of BLEU/ROUGE-L/CIDEr: the COCO package when installed
        ("auto"), or the built-in port (same numbers).
    tokenize : "auto" | "ptb" | "simple" | None
        Text normalisation before BLEU/ROUGE-L/CIDEr/METEOR: "ptb" is the
        Stanford PTBTokenizer of ``pycocoevalcap`` (Java; the COCO protocol),
        "simple" is :func:`tokenize_caption` (pure Python), "auto" is "ptb"
        when Java and the package are there, else "simple"; None uses the
        text as it is (already tokenised).
    per_caption : bool
        Also return per-caption scores.
    %(verbose)s
    backend : "auto" | "pycocoevalcap" | "builtin" | None
        Deprecated spelling of ``implementation`` (FutureWarning).

    Returns
    -------
    scores : pandas.DataFrame
        One row per metric: ``metric``, ``score`` (corpus-level; fractions in
        [0, 1] except CIDEr, on its usual 0-10 scale: papers print x100),
        ``protocol``, ``n_captions``, ``n_references``, ``implementation``.
        METEOR is NaN where it cannot run; ``implementation`` then says why.
        (METEOR starts a Java process that loads a paraphrase table: it adds
        tens of seconds; leave it out of ``metrics`` for quick looks.)
    per_caption_scores : pandas.DataFrame, shape (n_captions, n_metrics)
        Only when ``per_caption``.

    Notes
    -----
    Corpus BLEU pools n-gram counts over captions (COCO's definition), so it
    is not the mean of the per-caption BLEU. CIDEr's idf is computed from
    the references passed in, so it depends on the whole test set: score all
    captions in one call.
    """
    check_option("protocol", protocol, ("all", "first"))
    if backend is not None:
        warn(f"`backend` of caption_scores is deprecated and will be removed in the next release: "
             f"use `implementation={backend!r}` instead.", FutureWarning)
        implementation = backend
    check_option("implementation", implementation, ("auto", "pycocoevalcap", "builtin"))
    check_option("tokenize", tokenize, ("auto", "ptb", "simple", None))
    metrics = list(METRICS) if metrics is None else list(metrics)
    for m in metrics:
        check_option("metrics", m, METRICS)
    if not (text_embedder is None or callable(text_embedder)):
        raise TypeError(
            f"Invalid value for `text_embedder`: expected None or a callable, got {describe(text_embedder)}."
        )
    cands, refs = _check_inputs(candidates, references, protocol)
    has_coco = _has_coco()
    if implementation == "pycocoevalcap" and not has_coco:
        raise ImportError("Invalid value for `implementation`: 'pycocoevalcap' needs the package: "
                          "pip install pycocoevalcap (or use implementation='builtin').")
    use_coco = has_coco and implementation != "builtin"
    java = shutil.which("java") is not None
    if tokenize == "auto":
        tokenize = "ptb" if has_coco and java else "simple"
        logger.info("caption_scores: %s tokenisation", tokenize)
    if tokenize == "ptb" and not (has_coco and java):
        raise RuntimeError("tokenize='ptb' needs pycocoevalcap and Java; use tokenize='simple'.")
    if tokenize is None:
        tc, tr = cands, refs
    else:
        flat = cands + [r for rs in refs for r in rs]
        flat = _ptb_tokenize(flat) if tokenize == "ptb" else [tokenize_caption(t) for t in flat]
        tc, it = flat[: len(cands)], iter(flat[len(cands):])
        tr = [[next(it) for _ in rs] for rs in refs]

    rows, per = [], {}
    impl = "pycocoevalcap" if use_coco else "builtin"
    if any(m.startswith(("BLEU", "ROUGE", "CIDEr")) for m in metrics):
        if use_coco:
            bleu, bleu_per, rouge, cider = _coco_scores(tc, tr)
        else:
            bleu, bleu_per = _bleu(tc, tr)
            rouge, cider = _rouge_l(tc, tr), _cider_d(tc, tr)
        for k in range(4):
            per[f"BLEU-{k + 1}"] = (np.asarray(bleu_per[k], float), float(bleu[k]), impl)
        per["ROUGE-L"] = (rouge, float(np.mean(rouge)), impl)
        per["CIDEr"] = (cider, float(np.mean(cider)), impl)
    if "METEOR" in metrics:
        res, reason = _meteor(tc, tr)
        if res is None:
            logger.warning("caption_scores: METEOR is NaN: %s.", reason)
            per["METEOR"] = (np.full(len(tc), np.nan), np.nan, f"unavailable: {reason}")
        else:
            per["METEOR"] = (res[0], res[1], "pycocoevalcap (METEOR 1.5, Java)")
    if "embedding_similarity" in metrics:
        sims = _embedding_similarity(cands, refs, text_embedder)
        name = "tfidf" if text_embedder is None else getattr(text_embedder, "__name__", "custom")
        per["embedding_similarity"] = (sims, float(np.mean(sims)), f"cosine ({name})")
    n_refs = sum(len(r) for r in refs)
    for m in metrics:
        rows.append({"metric": m, "score": per[m][1], "protocol": protocol, "n_captions": len(cands),
                     "n_references": n_refs, "implementation": per[m][2],
                     "tokenize": tokenize if m != "embedding_similarity" else "n/a"})
    table = pd.DataFrame(rows)
    if per_caption:
        return table, pd.DataFrame({m: per[m][0] for m in metrics})
    return table


def _embedding_similarity(cands, refs, embedder):
    if embedder is None:
        from ._caption_eval import TfidfTextEmbedder

        embedder = TfidfTextEmbedder()
    embed = embedder
    flat = cands + [r for rs in refs for r in rs]
    Z = np.asarray(embed(flat), dtype=np.float64)
    if Z.ndim != 2 or Z.shape[0] != len(flat):
        raise ValueError(
            f"Invalid value for `text_embedder`: expected an array ({len(flat)}, n_dims) for "
            f"{len(flat)} texts, got {describe(Z)}."
        )
    norms = np.linalg.norm(Z, axis=1, keepdims=True)
    Z = Z / np.where(norms > 0, norms, 1.0)
    out = np.zeros(len(cands))
    pos = len(cands)
    for j, rs in enumerate(refs):
        out[j] = float(np.mean(Z[pos:pos + len(rs)] @ Z[j]))
        pos += len(rs)
    return out
