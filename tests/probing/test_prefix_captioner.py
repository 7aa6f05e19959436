"""PrefixCaptioner (ClipCap): tiny GPT-2 from a config, offline word tokenizer."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from neurotoolkit.simulation import make_builtin_stimuli
from neurotoolkit.probing.captioning._beam_search import _beam_search
from neurotoolkit.probing.captioning._prefix_captioner import (
    PrefixCaptioner,
    load_prefix_captioner,
)
from neurotoolkit.probing.captioning._word_tokenizer import build_word_tokenizer


def _gpt2_config(tok, n_embd=64):
    from neurotoolkit.features._backbones import import_torchvision

    import_torchvision()
    from transformers import GPT2Config

    return GPT2Config(n_layer=2, n_embd=n_embd, n_head=2, n_positions=96, vocab_size=len(tok),
                      bos_token_id=None, eos_token_id=None)


@pytest.fixture(scope="module")
def data():
    captions = sorted(set(make_builtin_stimuli(4, size=32).captions))  # 7 distinct captions
    rng = np.random.default_rng(0)
    E = rng.standard_normal((len(captions), 13)).astype("float32")
    return E, captions


@pytest.fixture(scope="module")
def trained(data):
    E, captions = data
    tok = build_word_tokenizer(captions)
    cap = PrefixCaptioner(_gpt2_config(tok), tok, prefix_length=4, train_language_model=True,
                          max_epochs=60, batch_size=8, learning_rate=3e-3, device="cpu", random_state=0)
    return cap.fit(E, captions)


def test_word_tokenizer_roundtrip():
    tok = build_word_tokenizer(["A four-legged animal", "a ball"])
    ids = tok.encode("a Ball. a cat", add_special_tokens=False)
    assert tok.convert_ids_to_tokens(ids) == ["a", "ball", ".", "a", "<unk>"]
    assert tok.decode(tok.encode("a four-legged animal.", add_special_tokens=False)) == "a four-legged animal."
    assert tok.pad_token_id == 0 and len(tok) == 2 + 5  # pad, unk, a, ball, four-legged, animal, "."


def test_overfits_and_beam_search_returns_training_captions(trained, data):
    E, captions = data
    losses = trained.loss_history_
    assert len(losses) == 60
    assert losses[-1] < 0.25 * losses[0]
    assert np.all(np.diff(losses[::10]) < 0)  # decreasing at every 10th epoch
    expected = [c + "." for c in captions]
    assert trained.caption(E) == expected
    assert trained.caption(E, num_beams=1, batch_size=3) == expected
    assert trained.predict(E[::-1]) == expected[::-1]


def _clipcap_generate_beam(lm, embed, stop_id, beam_size, entry_length):
    """ClipCap's generate_beam (rmokady/CLIP_prefix_caption predict.py), one embedding."""
    tokens = scores = None
    seq_lengths = torch.ones(beam_size)
    is_stopped = torch.zeros(beam_size, dtype=torch.bool)
    generated = embed
    for _ in range(entry_length):
        logits = lm(inputs_embeds=generated).logits[:, -1, :].softmax(-1).log()
        if scores is None:
            scores, next_tokens = logits.topk(beam_size, -1)
            generated = generated.expand(beam_size, *generated.shape[1:])
            next_tokens, scores = next_tokens.permute(1, 0), scores.squeeze(0)
            tokens = next_tokens
        else:
            logits[is_stopped] = -float(np.inf)
            logits[is_stopped, 0] = 0
            scores_sum = scores[:, None] + logits
            seq_lengths[~is_stopped] += 1
            scores_sum_average = scores_sum / seq_lengths[:, None]
            scores_sum_average, next_tokens = scores_sum_average.view(-1).topk(beam_size, -1)
            next_tokens_source = next_tokens // scores_sum.shape[1]
            seq_lengths = seq_lengths[next_tokens_source]
            next_tokens = (next_tokens % scores_sum.shape[1]).unsqueeze(1)
            tokens = torch.cat((tokens[next_tokens_source], next_tokens), dim=1)
            generated = generated[next_tokens_source]
            scores = scores_sum_average * seq_lengths
            is_stopped = is_stopped[next_tokens_source]
        next_embed = lm.get_input_embeddings()(next_tokens.squeeze(-1)).view(generated.shape[0], 1, -1)
        generated = torch.cat((generated, next_embed), dim=1)
        is_stopped = is_stopped + next_tokens.eq(stop_id).squeeze(-1)
        if is_stopped.all():
            break
    scores = scores / seq_lengths
    best = int(scores.argmax())
    return tokens[best, : int(seq_lengths[best])].tolist()


@pytest.mark.parametrize("num_beams", [1, 3])
def test_beam_search_matches_clipcap_reference(trained, num_beams):
    # perturbed embeddings give prefixes the model was not trained on: varied, longer outputs
    lm, stop = trained.language_model_, trained.stop_token_id_
    rng = np.random.default_rng(1)
    E = torch.from_numpy(3 * rng.standard_normal((5, 13)).astype("float32"))
    with torch.no_grad():
        prefix = trained._prefix(E)
        ours = _beam_search(lm, prefix, stop, num_beams, 9)
        ref = [_clipcap_generate_beam(lm, prefix[i:i + 1], stop, num_beams, 9) for i in range(5)]
    assert ours == ref
    assert any(len(t) > 2 for t in ours)

    class NoCache(torch.nn.Module):  # a model that returns no key-value cache: full re-run each step
        def __init__(self):
            super().__init__()
            self.lm = lm

        def get_input_embeddings(self):
            return lm.get_input_embeddings()

        def forward(self, inputs_embeds, **kwargs):
            return type("Out", (), {"logits": lm(inputs_embeds=inputs_embeds, use_cache=False).logits})()

    with torch.no_grad():
        assert _beam_search(NoCache(), prefix, stop, num_beams, 9) == ref


def test_greedy_matches_transformers_generate(trained):
    lm, stop = trained.language_model_, trained.stop_token_id_
    E = torch.from_numpy(np.random.default_rng(2).standard_normal((1, 13)).astype("float32"))
    with torch.no_grad():
        prefix = trained._prefix(E)
        ours = _beam_search(lm, prefix, stop, 1, 8)[0]
        out = lm.generate(inputs_embeds=prefix, do_sample=False, num_beams=1, max_new_tokens=8,
                          eos_token_id=stop, pad_token_id=0)[0].tolist()
    assert ours == out[: len(ours)]
    assert len(out) == len(ours) or out[len(ours):] == [0] * (len(out) - len(ours))


def test_mapper_only_training_keeps_language_model_frozen(data):
    E, captions = data
    tok = build_word_tokenizer(captions)
    cfg = _gpt2_config(tok, n_embd=32)
    cap = PrefixCaptioner(cfg, tok, prefix_length=3, max_epochs=15, batch_size=4, learning_rate=3e-3,
                          device="cpu", random_state=3)
    cap.fit(E, captions)
    ref = PrefixCaptioner(cfg, tok, prefix_length=3, random_state=3)
    ref._build(E.shape[1])  # the same seeded random language model, untrained
    for (name, a), b in zip(cap.language_model_.state_dict().items(), ref.language_model_.state_dict().values()):
        assert torch.equal(a, b), name
    assert cap.loss_history_[-1] < cap.loss_history_[0] - 0.1
    assert all(isinstance(c, str) for c in cap.caption(E[:2], num_beams=2, max_length=5))


def test_save_and_load_roundtrip(trained, data, tmp_path):
    E, _ = data
    path = trained.save(tmp_path / "cap.pt")
    assert [p.name for p in tmp_path.iterdir()] == ["cap.pt"]  # no temporary file left
    loaded = load_prefix_captioner(path, device="cpu")
    assert loaded.caption(E, num_beams=2) == trained.caption(E, num_beams=2)
    assert loaded.loss_history_ == trained.loss_history_
    assert loaded.prefix_length_ == 4 and loaded.n_features_in_ == 13
    with pytest.raises(ValueError, match="from_pretrained"):
        load_prefix_captioner(_fake_clipcap(trained, tmp_path / "clipcap.pt"))


def _fake_clipcap(trained, path):
    """A file with ClipCap's key layout (clip_project.model.0/2, gpt.*, old attn buffers)."""
    state = {"clip_project." + k: v for k, v in trained.mapper_.state_dict().items()}
    for k, v in trained.language_model_.state_dict().items():
        if k != "lm_head.weight":
            state["gpt." + k] = v
    state["gpt.transformer.h.0.attn.bias"] = torch.tril(torch.ones(1, 1, 8, 8))
    torch.save(state, path)
    return path


def test_from_pretrained_maps_clipcap_keys(trained, data, tmp_path):
    E, _ = data
    folder = tmp_path / "tiny-gpt2"
    trained.language_model_.config.save_pretrained(folder)  # config + tokenizer only, no LM weights
    trained.tokenizer_.save_pretrained(folder)
    ckpt = _fake_clipcap(trained, tmp_path / "coco_weights.pt")
    cap = PrefixCaptioner.from_pretrained(ckpt, language_model=str(folder), device="cpu")
    assert cap.prefix_length_ == 4 and cap.n_features_in_ == 13
    assert cap.caption(E, num_beams=3) == trained.caption(E, num_beams=3)
    cap.save(tmp_path / "again.pt")  # fine-tuned gpt weights are kept in the file
    assert load_prefix_captioner(tmp_path / "again.pt").caption(E[:2]) == trained.caption(E[:2])


def test_errors(trained, data, tmp_path):
    E, captions = data
    with pytest.raises(FileNotFoundError, match="coco_weights.pt"):
        PrefixCaptioner.from_pretrained(tmp_path / "missing.pt")
    with pytest.raises(FileNotFoundError, match="huggingface-cli download"):
        PrefixCaptioner("surely/not-a-local-model-xyz").fit(E, captions)
    with pytest.raises(ValueError, match="expected 13 features"):
        trained.caption(E[:, :5])
    with pytest.raises(ValueError, match="`max_length`: expected at most 92"):
        trained.caption(E, max_length=93)  # 96 positions, 4 used by the prefix
    with pytest.raises(RuntimeError, match="not fitted"):
        PrefixCaptioner().caption(E)
    tok = build_word_tokenizer(captions, extra_tokens=())
    with pytest.raises(ValueError, match="`stop_token`"):
        PrefixCaptioner(_gpt2_config(tok), tok, max_epochs=1).fit(E, captions)
    with pytest.raises(ValueError, match="`tokenizer`"):
        PrefixCaptioner(_gpt2_config(tok)).fit(E, captions)
    with pytest.raises(ValueError, match="Inconsistent lengths"):
        trained.fit(E[:3], captions)


# ---------------------------------------------------------------------------- brain captioning
def _toy_brain(E, n_repeats, noise, seed):
    """Responses = embeddings @ A + noise; n_units (29) > n_dims (13); stimulus index per row."""
    rng = np.random.default_rng(seed)
    A = np.random.default_rng(42).standard_normal((E.shape[1], 29))
    idx = np.repeat(np.arange(len(E)), n_repeats)
    return E[idx] @ A + noise * rng.standard_normal((len(idx), 29)), idx


def test_brain_captioner_with_toy_linear_decoder(trained, data):
    from sklearn.linear_model import Ridge

    from neurotoolkit.probing.captioning._brain_captioning import BrainCaptioner, caption_brain

    E, captions = data
    X, idx = _toy_brain(E, 6, 0.3, seed=0)
    model = BrainCaptioner(Ridge(alpha=1.0), trained, num_beams=3).fit(X, E[idx])
    assert model.embedding_norm_ == pytest.approx(np.linalg.norm(E, axis=1).mean())
    Xt, idt = _toy_brain(E, 2, 0.3, seed=1)  # new noisy trials of the same stimuli
    expected = [captions[i] + "." for i in idt]
    assert model.predict(Xt) == expected
    np.testing.assert_allclose(np.linalg.norm(model.predict_embeddings(Xt), axis=1), model.embedding_norm_,
                               rtol=1e-5)
    refs = [[c] for c in expected]
    assert model.score_captions(Xt, refs, metric="BLEU-1", tokenize="simple") == pytest.approx(1.0)
    with pytest.warns(FutureWarning, match=r"`BrainCaptioner.score` is deprecated.*score_captions"):
        assert model.score(Xt, refs, metric="BLEU-1", tokenize="simple") == pytest.approx(1.0)
    assert caption_brain(model.decoder_, trained, Xt, num_beams=2) == expected
    # a decoder whose predictions are shrunk toward 0 (as ridge's are): target_norm restores the norm

    class Shrunk:
        def predict(self, X):
            return 0.1 * model.decoder_.predict(X)

    raw = caption_brain(Shrunk(), trained, Xt, num_beams=2)
    assert np.mean([a == b for a, b in zip(raw, expected)]) < 0.9
    assert caption_brain(Shrunk(), trained, Xt, num_beams=2, target_norm=model.embedding_norm_) == expected
    with pytest.raises(TypeError, match="`captioner`"):
        caption_brain(Shrunk(), object(), Xt)
    with pytest.raises(ValueError, match="`target_norm`"):
        caption_brain(Shrunk(), trained, Xt, target_norm=0)


def test_brain_captioner_with_ridge_decoder(trained, data):
    decoding = pytest.importorskip("neurotoolkit.decoding")
    if not hasattr(decoding, "RidgeDecoder"):
        pytest.skip("neurotoolkit.decoding.RidgeDecoder not available")
    from neurotoolkit.probing.captioning._brain_captioning import BrainCaptioner

    E, captions = data
    X, idx = _toy_brain(E, 6, 0.3, seed=0)
    Xt, idt = _toy_brain(E, 1, 0.3, seed=2)
    model = BrainCaptioner(decoding.RidgeDecoder(cv=3), trained, num_beams=2).fit(X, E[idx])
    assert model.predict(Xt) == [captions[i] + "." for i in idt]


def test_n_epochs_renamed_max_epochs(data):
    E, captions = data
    tok = build_word_tokenizer(captions)
    kw = dict(prefix_length=2, batch_size=4, learning_rate=3e-3, device="cpu", random_state=0)
    new = PrefixCaptioner(_gpt2_config(tok, n_embd=16), tok, max_epochs=2, **kw).fit(E, captions)
    with pytest.warns(FutureWarning, match=r"`n_epochs` of PrefixCaptioner is deprecated.*"
                                           r"`max_epochs=2`"):
        old = PrefixCaptioner(_gpt2_config(tok, n_embd=16), tok, n_epochs=2, **kw).fit(E, captions)
    assert len(old.loss_history_) == len(new.loss_history_) == 2
    np.testing.assert_allclose(old.loss_history_, new.loss_history_, rtol=1e-6)
    assert new.get_params()["max_epochs"] == 2
