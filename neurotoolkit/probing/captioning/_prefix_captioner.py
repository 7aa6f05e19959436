"""Prefix captioner (ClipCap; Mokady, Hertz & Bermano, 2021; rmokady/CLIP_prefix_caption).

An image embedding (e.g. a CLIP ViT-B/32 vector, or one decoded from the brain)
is mapped by a small network to ``prefix_length`` token embeddings that are
prepended to a causal language model from ``transformers``; beam search then
writes the caption. Trainable on (embedding, caption) pairs, savable to one
checkpoint file (a checksummed HDF5 file, no pickle), and loadable from the
public ClipCap COCO weights.
"""

import json
from pathlib import Path

import numpy as np

from ..._utils.docs import fill_doc
from ..._utils.safe_io import load_object, save_object, sniff
from ..._utils.device import resolve_device
from ..._utils.deprecation import DEPRECATED, renamed_parameter
from ..._utils.logging import logger, progress, verbose
from ..._utils.optional import require
from ..._utils.random import check_random_state, seeded
from ..._utils.validation import (
    check_array,
    check_consistent_length,
    check_int,
    check_type,
)
from ._beam_search import _beam_search
from ._language_model import (
    _FORMAT,
    _read_clipcap,
    _resolve_language_model,
    _transformers,
)
from ._word_tokenizer import build_word_tokenizer

__all__ = ["PrefixCaptioner", "build_word_tokenizer", "load_prefix_captioner"]



# 2: a checksummed safe_io container; 1: torch.save (a pickle)
_SAVE_VERSION = 2


def _torch():
    return require("torch", purpose="PrefixCaptioner")


def _mlp_mapper(in_dim, hidden_dim, out_dim):
    """ClipCap's MLP: Linear -> Tanh -> Linear, parameters named ``model.0`` and ``model.2``."""
    nn = _torch().nn

    class MLPMapper(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = nn.Sequential(nn.Linear(in_dim, hidden_dim), nn.Tanh(), nn.Linear(hidden_dim, out_dim))

        def forward(self, x):
            return self.model(x)

    return MLPMapper()


@fill_doc
class PrefixCaptioner:
    """Caption embeddings with a mapping network and a causal language model (ClipCap).

    ``mapper(embedding)`` gives ``prefix_length`` vectors of the language model's
    width; they are prepended to the caption's token embeddings and the model
    is trained to predict the caption (cross-entropy on caption tokens only).
    Captions are written by ClipCap's beam search: the score of a beam is its
    summed log-probability divided by its length, a beam stops at
    ``stop_token``, and the best beam is kept.

    Parameters
    ----------
    language_model : str | transformers.PretrainedConfig | transformers.PreTrainedModel
        A causal LM: a Hugging Face id or folder (loaded from local files only,
        e.g. ``"gpt2"`` once ``huggingface-cli download gpt2`` has run), a config
        (a model with random weights is built from it, seeded by
        ``random_state``; e.g. ``GPT2Config(n_layer=2, n_embd=64, n_head=2,
        vocab_size=len(tokenizer))``) or a model instance (used in place).
    tokenizer : transformers tokenizer | None
        None loads the tokenizer of ``language_model`` (a str). Its vocabulary
        must match the model's (see :func:`build_word_tokenizer`).
    prefix_length : int
        Number of prefix vectors (ClipCap: 10).
    mapper_hidden_dim : int | None
        Hidden width of the MLP mapper; None is ``prefix_length * width // 2``
        (ClipCap COCO with GPT-2: 512 -> 3840 -> 7680).
    train_language_model : bool
        Fine-tune the language model together with the mapper (ClipCap's MLP
        COCO weights were trained so) or keep it frozen and train the mapper
        only (cheaper; ClipCap's "only prefix" mode). Mapper-only training
        needs a *pretrained* language model: a frozen randomly initialised one
        barely responds to the prefix (its loss stalls near the unigram level).
    max_epochs : int
        Passes over the training pairs (no early stopping: all are run).
    batch_size : int
        Pairs per step, and embeddings per batch when captioning.
    learning_rate : float
        AdamW learning rate (ClipCap: 2e-5 for GPT-2; tiny random models need ~1e-3).
    warmup_steps : int | None
        Linear warm-up steps, followed by linear decay to 0. None is
        ClipCap's 5000 or a tenth of all steps, whichever is smaller.
    weight_decay : float
        AdamW weight decay.
    max_caption_length : int
        Captions are cut to this many tokens for training.
    stop_token : str
        Text of the token that ends a caption (ClipCap: "."); it is appended
        to training captions that do not end with it.
    %(device)s
    %(random_state)s
    %(verbose)s
    n_epochs : int
        Deprecated spelling of ``max_epochs`` (FutureWarning); removed in
        the next release.

    Attributes
    ----------
    mapper_ : torch.nn.Module
        Maps ``(n, n_features_in_)`` to ``(n, prefix_length * width)``.
    language_model_ : transformers.PreTrainedModel
    tokenizer_ : transformers tokenizer
    loss_history_ : list of float
        Mean training loss of each epoch.
    n_features_in_ : int
        Embedding dimension.
    stop_token_id_ : int
    device_ : torch.device

    Examples
    --------
    >>> tok = build_word_tokenizer(captions)  # doctest: +SKIP
    >>> cfg = GPT2Config(n_layer=2, n_embd=64, n_head=2, vocab_size=len(tok))  # doctest: +SKIP
    >>> cap = PrefixCaptioner(cfg, tok, learning_rate=1e-3).fit(E, captions)  # doctest: +SKIP
    >>> cap.caption(E[:3])  # doctest: +SKIP
    """

    def __init__(self, language_model="gpt2", tokenizer=None, prefix_length=10, mapper_hidden_dim=None,
                 train_language_model=False, max_epochs=10, batch_size=40, learning_rate=2e-5,
                 warmup_steps=None, weight_decay=0.0, max_caption_length=67, stop_token=".",
                 device="auto", random_state=0, verbose=None, n_epochs=DEPRECATED):
        self.language_model = language_model
        self.tokenizer = tokenizer
        self.prefix_length = prefix_length
        self.mapper_hidden_dim = mapper_hidden_dim
        self.train_language_model = train_language_model
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.warmup_steps = warmup_steps
        self.weight_decay = weight_decay
        self.max_caption_length = max_caption_length
        self.stop_token = stop_token
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
        self.n_epochs = n_epochs

    # ------------------------------------------------------------------ set-up
    def _build(self, n_features, mapper_state=None):
        """Create ``language_model_``, ``tokenizer_``, ``mapper_`` (random or from a state dict)."""
        torch = _torch()
        self.device_ = resolve_device(self.device, purpose="PrefixCaptioner")
        P = check_int("prefix_length", self.prefix_length, min_value=1)
        lm, tok = _resolve_language_model(self.language_model, self.tokenizer, self.random_state)
        width = lm.get_input_embeddings().weight.shape[1]
        n_vocab = lm.get_input_embeddings().weight.shape[0]
        if len(tok) > n_vocab:
            raise ValueError(
                f"Invalid value for `tokenizer`: expected at most {n_vocab} tokens (the language "
                f"model's vocabulary), got {len(tok)}. Build the model with vocab_size=len(tokenizer)."
            )
        stop_ids = tok.encode(self.stop_token, add_special_tokens=False)
        if len(stop_ids) != 1 or stop_ids[0] == tok.unk_token_id:
            raise ValueError(
                f"Invalid value for `stop_token`: expected text that the tokenizer encodes as one "
                f"token, got {self.stop_token!r} -> ids {stop_ids}."
            )
        hidden = self.mapper_hidden_dim if self.mapper_hidden_dim is not None else P * width // 2
        hidden = check_int("mapper_hidden_dim", hidden, min_value=1)
        _, ctx = seeded(self.random_state)
        with ctx:
            mapper = _mlp_mapper(int(n_features), hidden, P * width)
        if mapper_state is not None:
            mapper.load_state_dict(mapper_state)
        self.language_model_ = lm.to(self.device_).float()
        self.tokenizer_ = tok
        self.mapper_ = mapper.to(self.device_)
        self.n_features_in_ = int(n_features)
        self.prefix_length_ = P
        self.stop_token_id_ = int(stop_ids[0])
        self.language_model_.eval()
        self.mapper_.eval()
        return torch

    def _prefix(self, E):
        return self.mapper_(E).view(E.shape[0], self.prefix_length_, -1)

    def _encode_captions(self, captions):
        max_len = check_int("max_caption_length", self.max_caption_length, min_value=1)
        out = []
        for cap in captions:
            ids = list(self.tokenizer_.encode(str(cap).strip(), add_special_tokens=False))[:max_len]
            if not ids or ids[-1] != self.stop_token_id_:
                ids = ids[: max_len - 1] + [self.stop_token_id_]
            out.append(ids)
        return out

    # ------------------------------------------------------------------ training
    @fill_doc
    @verbose
    def fit(self, embeddings, captions, verbose=None):
        """Train the mapper (and the language model if ``train_language_model``).

        Parameters
        ----------
        embeddings : array, shape (n_samples, n_features)
            Image embeddings (e.g. raw CLIP image embeddings, not normalised,
            as ClipCap was trained).
        captions : sequence of str, length n_samples
            One caption per embedding (repeat an embedding to use several).
        %(verbose)s

        Returns
        -------
        self
        """
        E = np.ascontiguousarray(check_array("embeddings", embeddings, ndim=2, dtype="float32", min_samples=1))
        if isinstance(captions, str):
            raise TypeError("Invalid value for `captions`: expected a list of str, got a single str.")
        captions = [str(c) for c in captions]
        check_consistent_length(embeddings=E, captions=captions)
        n_epochs, name = renamed_parameter("PrefixCaptioner", "n_epochs", self.n_epochs,
                                           "max_epochs", self.max_epochs)
        n_epochs = check_int(name, n_epochs, min_value=1)
        batch_size = check_int("batch_size", self.batch_size, min_value=1)
        check_type("learning_rate", self.learning_rate, "numeric")
        torch = self._build(E.shape[1])
        tokens = self._encode_captions(captions)
        rng = check_random_state(self.random_state)
        params = list(self.mapper_.parameters())
        for p in self.language_model_.parameters():
            p.requires_grad_(bool(self.train_language_model))
        if self.train_language_model:
            params += list(self.language_model_.parameters())
        opt = torch.optim.AdamW(params, lr=float(self.learning_rate), weight_decay=float(self.weight_decay))
        steps_per_epoch = -(-len(E) // batch_size)
        total = n_epochs * steps_per_epoch
        warm = min(5000, total // 10) if self.warmup_steps is None else check_int(
            "warmup_steps", self.warmup_steps, min_value=0)

        def lr_lambda(step):
            if step < warm:
                return (step + 1) / (warm + 1)
            return max(0.0, (total - step) / max(1, total - warm))

        sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda)
        pad_id = self.tokenizer_.pad_token_id if self.tokenizer_.pad_token_id is not None else 0
        emb_layer = self.language_model_.get_input_embeddings()
        P = self.prefix_length_
        self.loss_history_ = []
        self.mapper_.train()
        if self.train_language_model:
            self.language_model_.train()
        logger.info("PrefixCaptioner: %d pairs, %d epochs, %d steps on %s", len(E), n_epochs, total, self.device_)
        _, dropout_rng = seeded(self.random_state)  # dropout draws: reproducible, global RNG untouched
        with dropout_rng:
            for epoch in progress(range(n_epochs), desc="PrefixCaptioner.fit", verbose=verbose):
                order = rng.permutation(len(E))
                losses = []
                for start in range(0, len(E), batch_size):
                    idx = order[start:start + batch_size]
                    seqs = [tokens[i] for i in idx]
                    L = max(len(s) for s in seqs)
                    tok = torch.full((len(idx), L), pad_id, dtype=torch.long)
                    mask = torch.zeros((len(idx), L), dtype=torch.bool)
                    for r, s in enumerate(seqs):
                        tok[r, : len(s)] = torch.tensor(s)
                        mask[r, : len(s)] = True
                    tok, mask = tok.to(self.device_), mask.to(self.device_)
                    prefix = self._prefix(torch.from_numpy(E[idx]).to(self.device_))
                    inputs = torch.cat([prefix, emb_layer(tok)], dim=1)
                    attn = torch.cat([torch.ones((len(idx), P), dtype=torch.long, device=self.device_),
                                      mask.long()], dim=1)
                    logits = self.language_model_(inputs_embeds=inputs, attention_mask=attn).logits[:, P - 1:-1]
                    target = tok.masked_fill(~mask, -100)
                    loss = torch.nn.functional.cross_entropy(
                        logits.reshape(-1, logits.shape[-1]).float(), target.reshape(-1), ignore_index=-100)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    sched.step()
                    losses.append(float(loss.detach()))
                self.loss_history_.append(float(np.mean(losses)))
                logger.info("epoch %d/%d: loss %.4f", epoch + 1, n_epochs, self.loss_history_[-1])
        self.mapper_.eval()
        self.language_model_.eval()
        for p in self.language_model_.parameters():
            p.requires_grad_(False)
        return self

    # ------------------------------------------------------------------ captioning
    def _check_fitted(self):
        if not hasattr(self, "mapper_"):
            raise RuntimeError(
                "This PrefixCaptioner is not fitted yet: call fit(embeddings, captions), "
                "PrefixCaptioner.from_pretrained(...) or load_prefix_captioner(path) first."
            )

    def caption(self, embeddings, num_beams=5, max_length=67, batch_size=None):
        """Write one caption per embedding with ClipCap's beam search.

        Parameters
        ----------
        embeddings : array, shape (n_samples, n_features)
        num_beams : int
            Beams kept per embedding (1 is greedy decoding).
        max_length : int
            Most tokens generated per caption.
        batch_size : int | None
            Embeddings decoded together; None uses ``batch_size``.

        Returns
        -------
        list of str, length n_samples
        """
        self._check_fitted()
        torch = _torch()
        E = np.ascontiguousarray(check_array("embeddings", embeddings, ndim=2, dtype="float32"))
        if E.shape[1] != self.n_features_in_:
            raise ValueError(
                f"Invalid value for `embeddings`: expected {self.n_features_in_} features (as in "
                f"fit), got shape {E.shape}."
            )
        n_vocab = self.language_model_.get_input_embeddings().weight.shape[0]
        num_beams = check_int("num_beams", num_beams, min_value=1, max_value=n_vocab)
        max_length = check_int("max_length", max_length, min_value=1)
        n_pos = getattr(self.language_model_.config, "max_position_embeddings", None)
        if n_pos is not None and self.prefix_length_ + max_length > n_pos:
            raise ValueError(
                f"Invalid value for `max_length`: expected at most {n_pos - self.prefix_length_} (the "
                f"language model has {n_pos} positions, {self.prefix_length_} used by the prefix), got {max_length}."
            )
        bs = check_int("batch_size", batch_size if batch_size is not None else self.batch_size, min_value=1)
        out = []
        with torch.no_grad():
            for start in range(0, len(E), bs):
                prefix = self._prefix(torch.from_numpy(E[start:start + bs]).to(self.device_))
                for ids in _beam_search(self.language_model_, prefix, self.stop_token_id_, num_beams, max_length):
                    out.append(self.tokenizer_.decode(ids, skip_special_tokens=True).strip())
        return out

    def predict(self, embeddings):
        """Captions with the default search (5 beams, at most 67 tokens); see :meth:`caption`."""
        return self.caption(embeddings)

    # ------------------------------------------------------------------ persistence
    def save(self, path, include_language_model=None):
        """Write mapper, tokenizer, settings (and LM weights) to one file, atomically.

        The file is a checksummed HDF5 file (weights as datasets, the rest as
        JSON) that :func:`load_prefix_captioner` reads without unpickling.

        Parameters
        ----------
        path : path-like
            Target file (e.g. ``captioner.h5``).
        include_language_model : bool | None
            Store the language model's weights. None stores them when they
            cannot be reloaded by name: when the model was fine-tuned, or built
            from a config or passed as an object.
        """
        self._check_fitted()
        by_name = isinstance(self.language_model, (str, Path))
        if include_language_model is None:
            include_language_model = bool(self.train_language_model) or not by_name
        lm = self.language_model_
        ckpt = {
            "format": _FORMAT,
            "version": _SAVE_VERSION,
            "params": json.dumps({k: v for k, v in self.get_params().items()
                                  if k not in ("language_model", "tokenizer", "device", "n_epochs")}),
            "language_model_name": str(self.language_model) if by_name else None,
            "language_model_class": type(lm).__name__,
            "language_model_config": lm.config.to_json_string(),
            "language_model_state": ({k: v.detach().cpu() for k, v in lm.state_dict().items()}
                                     if include_language_model else None),
            "tokenizer_json": self.tokenizer_.backend_tokenizer.to_str(),
            "tokenizer_special": json.dumps(dict(self.tokenizer_.special_tokens_map)),
            "mapper_state": {k: v.detach().cpu() for k, v in self.mapper_.state_dict().items()},
            "n_features_in": self.n_features_in_,
            "loss_history": list(getattr(self, "loss_history_", [])),
        }
        return save_object(path, "PrefixCaptioner", _SAVE_VERSION, ckpt)

    @classmethod
    @fill_doc
    def from_pretrained(cls, mapper_checkpoint, language_model="gpt2", tokenizer=None, device="auto",
                        **kwargs):
        """Load the public ClipCap weights (MLP mapper; e.g. ``coco_weights.pt``).

        ClipCap's state dict holds ``clip_project.model.0.{weight,bias}`` (512 -> 3840)
        and ``clip_project.model.2.{weight,bias}`` (3840 -> 7680), which become
        ``mapper_.model.0`` / ``mapper_.model.2``; the prefix length is
        7680 / 768 = 10. Keys ``gpt.*`` are the fine-tuned GPT-2 and are loaded
        into a model built from ``language_model``'s config (so only its
        config and tokenizer files are needed); the old ``attn.bias`` /
        ``attn.masked_bias`` buffers are ignored. Without ``gpt.*`` keys the
        weights of ``language_model`` are loaded as they are.

        Parameters
        ----------
        mapper_checkpoint : path-like
            The ClipCap ``.pt`` file.
        language_model : str
            Hugging Face id or folder with the GPT-2 config and tokenizer
            (``huggingface-cli download gpt2``).
        tokenizer : transformers tokenizer | None
            None loads it from ``language_model``.
        %(device)s
        **kwargs
            Other :class:`PrefixCaptioner` parameters (e.g. ``stop_token``).

        Returns
        -------
        PrefixCaptioner
            Ready to :meth:`caption`.
        """
        lm, tokenizer, mapper, fine_tuned = _read_clipcap(mapper_checkpoint, language_model, tokenizer)
        width = lm.get_input_embeddings().weight.shape[1]
        out_dim, hidden = mapper["model.2.weight"].shape
        if out_dim % width:
            raise ValueError(
                f"The mapper output ({out_dim}) is not a multiple of the language model width ({width})."
            )
        kwargs.setdefault("train_language_model", fine_tuned)
        self = cls(language_model=lm, tokenizer=tokenizer, prefix_length=out_dim // width,
                   mapper_hidden_dim=int(hidden), device=device, **kwargs)
        self._build(mapper["model.0.weight"].shape[1], mapper_state=mapper)
        self.language_model = str(language_model)  # reload by name; save() then keeps the gpt weights
        self.loss_history_ = []
        return self

    def get_params(self, deep=False):
        """Constructor parameters (scikit-learn protocol)."""
        import inspect

        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {k: getattr(self, k) for k in names}

    def set_params(self, **params):
        """Set constructor parameters (scikit-learn protocol); returns self."""
        for k, v in params.items():
            if k not in self.get_params():
                raise ValueError(f"Invalid parameter `{k}` for PrefixCaptioner.")
            setattr(self, k, v)
        return self

    def __repr__(self):
        lm = self.language_model if isinstance(self.language_model, (str, Path)) else type(self.language_model).__name__
        return f"PrefixCaptioner(language_model={lm!r}, prefix_length={self.prefix_length})"


@fill_doc
def load_prefix_captioner(path, language_model=None, device="auto", trust_pickle=False):
    """Load a :meth:`PrefixCaptioner.save` checkpoint.

    The file's checksum is verified; nothing is unpickled.

    Parameters
    ----------
    path : path-like
    language_model : str | transformers.PreTrainedModel | None
        Needed only when the file holds no language-model weights: None uses
        the name stored in the file (loaded from local files).
    %(device)s
    trust_pickle : bool
        Files saved by neurotoolkit before version 2 of this format are
        ``torch.save`` pickles; they raise an error unless
        ``trust_pickle=True`` (only for a file from a source you trust; it is
        then read with ``torch.load(weights_only=True)``). Save the result
        again to convert it.

    Returns
    -------
    PrefixCaptioner
    """
    torch = _torch()
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"Invalid value for `path`: no PrefixCaptioner checkpoint at '{path}'.")
    if trust_pickle and sniff(path) in ("torch", "pickle"):
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    else:
        hint = ("For ClipCap's own weights use PrefixCaptioner.from_pretrained(path, "
                "language_model='gpt2'). For a captioner saved by an older neurotoolkit, if you "
                f"trust its source, load it with load_prefix_captioner('{path}', "
                "trust_pickle=True) and call .save(new_path) on the result to convert it.")
        ckpt, _ = load_object(path, "PrefixCaptioner", _SAVE_VERSION, param="path",
                              pickle_hint=hint)
    if not isinstance(ckpt, dict) or ckpt.get("format") != _FORMAT:
        raise ValueError(
            f"'{path}' is not a neurotoolkit PrefixCaptioner checkpoint; for ClipCap's own weights "
            "use PrefixCaptioner.from_pretrained(path, language_model='gpt2')."
        )
    tf = _transformers()
    tokenizers = require("tokenizers")
    tok = tf.PreTrainedTokenizerFast(
        tokenizer_object=tokenizers.Tokenizer.from_str(ckpt["tokenizer_json"]),
        clean_up_tokenization_spaces=True, **json.loads(ckpt["tokenizer_special"]))
    if ckpt["language_model_state"] is not None:
        config = tf.AutoConfig.for_model(**json.loads(ckpt["language_model_config"]))
        lm = tf.AutoModelForCausalLM.from_config(config)
        lm.load_state_dict(ckpt["language_model_state"])
    else:
        lm = language_model if language_model is not None else ckpt["language_model_name"]
    params = json.loads(ckpt["params"])
    if "n_epochs" in params:  # files written before the rename to max_epochs
        params["max_epochs"] = params.pop("n_epochs")
    self = PrefixCaptioner(language_model=lm, tokenizer=tok, device=device, **params)
    self._build(ckpt["n_features_in"], mapper_state=ckpt["mapper_state"])
    if ckpt["language_model_name"] is not None:
        self.language_model = ckpt["language_model_name"]
    self.loss_history_ = list(ckpt["loss_history"])
    return self
