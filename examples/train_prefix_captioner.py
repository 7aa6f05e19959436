"""Train a ClipCap-style prefix captioner on the built-in stimuli, offline.

A mapping network turns an image embedding into a 4-token prefix for a tiny
GPT-2 (2 layers, 64 wide, random initial weights) whose vocabulary is built
from the captions; both are trained on (embedding, caption) pairs of 80 % of
the images, then beam search captions the held-out 20 % and the captions are
scored against the true ones. The embeddings are weight-free Gabor-pyramid
features (PCA to 32 dimensions), standing in for CLIP image embeddings.

    python examples/train_prefix_captioner.py [--epochs 40] [--out captioner.pt]

With real weights the same class captions CLIP embeddings:
``PrefixCaptioner.from_pretrained("coco_weights.pt", language_model="gpt2")``.
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.decomposition import PCA
from sklearn.preprocessing import StandardScaler

import neurotoolkit as nt


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--out", default=None, help="save the trained captioner here (.pt)")
    parser.add_argument("--device", default="auto", help='torch device: "auto" (CUDA when available), "cpu", "cuda"')
    args = parser.parse_args(argv)

    from transformers import GPT2Config

    stimuli = nt.simulation.make_builtin_stimuli(n_per_category=12, size=64, random_state=0)
    feats = nt.features.GaborPyramid(image_size=64).transform(stimuli)
    rng = np.random.default_rng(0)
    test = np.zeros(len(stimuli), bool)
    test[rng.permutation(len(stimuli))[: len(stimuli) // 5]] = True
    scaler = StandardScaler().fit(feats[~test])
    pca = PCA(32, random_state=0).fit(scaler.transform(feats[~test]))
    E = pca.transform(scaler.transform(feats)).astype("float32")
    E *= 4.0 / np.linalg.norm(E[~test], axis=1).mean()  # embeddings of norm ~4
    captions = np.asarray(stimuli.captions, dtype=object)

    tokenizer = nt.probing.build_word_tokenizer(captions[~test])
    config = GPT2Config(n_layer=2, n_embd=64, n_head=2, n_positions=96, vocab_size=len(tokenizer),
                        bos_token_id=None, eos_token_id=None)
    captioner = nt.probing.PrefixCaptioner(
        config, tokenizer, prefix_length=4, train_language_model=True, max_epochs=args.epochs,
        batch_size=16, learning_rate=3e-3, device=args.device, random_state=0)
    t0 = time.perf_counter()
    captioner.fit(E[~test], list(captions[~test]))
    losses = captioner.loss_history_
    print(f"trained on {(~test).sum()} pairs in {time.perf_counter() - t0:.1f} s; loss per epoch "
          + " ".join(f"{v:.2f}" for v in losses[:: max(1, len(losses) // 8)]) + f" ... {losses[-1]:.3f}")

    out = Path(args.out) if args.out else Path(tempfile.mkdtemp()) / "captioner.h5"
    captioner.save(out)
    captioner = nt.probing.load_prefix_captioner(out, device=args.device)
    generated = captioner.caption(E[test], num_beams=5)
    for sid, cap, ref in list(zip(stimuli.ids[test], generated, captions[test]))[:6]:
        print(f"  {sid:12s} {cap!r:40s} true: {ref!r}")
    train_gen = captioner.caption(E[~test][:20])
    scores = nt.probing.caption_scores(generated, list(captions[test]), tokenize="simple",
                                       metrics=["BLEU-1", "BLEU-4", "ROUGE-L", "CIDEr", "embedding_similarity"])
    exact_train = np.mean([g.rstrip(".") == c for g, c in zip(train_gen, captions[~test][:20])])
    print(f"held-out images ({test.sum()}): " + ", ".join(f"{m} {s:.3f}" for m, s in zip(scores["metric"], scores["score"])))
    print(f"training images: {exact_train:.0%} of captions reproduced exactly")
    return losses, scores, exact_train


if __name__ == "__main__":
    main()
