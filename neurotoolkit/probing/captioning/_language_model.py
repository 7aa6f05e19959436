"""PrefixCaptioner's language model and tokenizer (a name, config or object) and ClipCap weights."""

from pathlib import Path

from ..._utils.optional import require
from ..._utils.random import seeded
from ..._utils.safe_io import sniff
from ..._utils.validation import describe

_FORMAT = "neurotoolkit.PrefixCaptioner"
_CLIPCAP_HELP = (
    "Download coco_weights.pt (ClipCap, MLP mapper + fine-tuned GPT-2, trained on COCO) from the "
    "'COCO' link in the README of github.com/rmokady/CLIP_prefix_caption and pass its path as "
    "`mapper_checkpoint`."
)


def _transformers():
    from ...features._backbones import import_torchvision

    import_torchvision()  # transformers' model modules import torchvision
    return require("transformers", purpose="PrefixCaptioner")


def _lm_missing(name, err):
    return (
        f"Language model {str(name)!r} was not found on this machine ({type(err).__name__}: "
        f"{str(err)[:120]}). Download it first (`huggingface-cli download {name}`, which fills the "
        "Hugging Face cache), or pass a folder written by `save_pretrained`, a transformers config "
        "(random weights) or a model object."
    )


def _load_tokenizer(name):
    tf = _transformers()
    try:
        return tf.AutoTokenizer.from_pretrained(str(name), local_files_only=True)
    except OSError as err:
        raise FileNotFoundError(_lm_missing(name, err)) from err


def _resolve_language_model(language_model, tokenizer, random_state):
    """(model, tokenizer) from a name/folder, a config or a model object."""
    tf = _transformers()
    if isinstance(language_model, (str, Path)):
        try:
            lm = tf.AutoModelForCausalLM.from_pretrained(str(language_model), local_files_only=True)
        except OSError as err:
            raise FileNotFoundError(_lm_missing(language_model, err)) from err
        tok = tokenizer if tokenizer is not None else _load_tokenizer(language_model)
        return lm, tok
    if tokenizer is None:
        raise ValueError(
            "Invalid value for `tokenizer`: expected a tokenizer when `language_model` is a config or "
            "a model object, got None. Build one with build_word_tokenizer(captions)."
        )
    if isinstance(language_model, tf.PretrainedConfig):

        _, ctx = seeded(random_state)
        with ctx:
            return tf.AutoModelForCausalLM.from_config(language_model), tokenizer
    if isinstance(language_model, tf.PreTrainedModel):
        return language_model, tokenizer
    raise TypeError(
        "Invalid value for `language_model`: expected a Hugging Face id or folder (str), a "
        f"transformers config or a causal LM object, got {describe(language_model)}."
    )


def _read_clipcap(mapper_checkpoint, language_model, tokenizer):
    """Read a ClipCap ``.pt`` file (see :meth:`PrefixCaptioner.from_pretrained`).

    Returns (model, tokenizer, mapper state dict, whether the file held fine-tuned ``gpt.*`` weights).
    """
    torch = require("torch", purpose="PrefixCaptioner")
    path = Path(mapper_checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"ClipCap weights not found at '{path}'. {_CLIPCAP_HELP}")
    if sniff(path) == "hdf5":
        raise ValueError(
            f"'{path}' is a neurotoolkit PrefixCaptioner checkpoint: use load_prefix_captioner(path)."
        )
    state = torch.load(path, map_location="cpu", weights_only=True)  # tensors only: no code can run
    if isinstance(state, dict) and state.get("format") == _FORMAT:
        raise ValueError(
            f"'{path}' is a neurotoolkit PrefixCaptioner checkpoint: use load_prefix_captioner(path)."
        )
    mapper = {k[len("clip_project."):]: v for k, v in state.items() if k.startswith("clip_project.")}
    if set(mapper) != {"model.0.weight", "model.0.bias", "model.2.weight", "model.2.bias"}:
        raise ValueError(
            f"Invalid value for `mapper_checkpoint`: expected ClipCap MLP-mapper keys "
            f"clip_project.model.0/2.weight/bias, got {sorted(mapper)[:6]}. The transformer-mapper "
            f"variant is not supported. {_CLIPCAP_HELP}"
        )
    gpt = {k[len("gpt."):]: v for k, v in state.items() if k.startswith("gpt.")}
    if gpt:
        tf = _transformers()
        try:
            config = tf.AutoConfig.from_pretrained(language_model, local_files_only=True)
        except OSError as err:
            raise FileNotFoundError(_lm_missing(language_model, err)) from err
        lm = tf.AutoModelForCausalLM.from_config(config)
        missing, unexpected = lm.load_state_dict(gpt, strict=False)
        missing = [k for k in missing if k != "lm_head.weight"]  # tied to the input embeddings
        unexpected = [k for k in unexpected if not k.endswith((".attn.bias", ".attn.masked_bias"))]
        if missing or unexpected:
            raise ValueError(
                f"The gpt.* weights in '{path}' do not fit {language_model!r}: missing "
                f"{missing[:4]}, unexpected {unexpected[:4]}."
            )
        if tokenizer is None:
            tokenizer = _load_tokenizer(language_model)
    else:
        lm = language_model
    lm, tokenizer = _resolve_language_model(lm, tokenizer, 0)
    return lm, tokenizer, mapper, bool(gpt)
