"""Torch training loop of the cross-subject decoders: AdamW, early stopping on a
validation split (validation retrieval or loss), atomic checkpoints that a later
call resumes from.

The loop owns the random state: it runs inside ``torch.random.fork_rng`` (the
caller's global torch RNG is untouched), seeds it from ``seed`` and saves the
RNG states in each checkpoint, so that training 3 epochs, then resuming to 6,
gives the same weights as training 6 epochs in one go.

Checkpoints are checksummed neurotoolkit HDF5 files (``_utils.safe_io``):
tensors as datasets, the rest as JSON; loading never unpickles. Temporary
files left by a killed checkpoint write are removed when training starts.
"""

import time
from pathlib import Path

import numpy as np
import pandas as pd

from .._utils.io import remove_stale_temp_files
from .._utils.logging import logger, progress
from .._utils.optional import require
from .._utils.safe_io import load_object, save_object

__all__ = ["CHECKPOINT_VERSION", "MONITORS", "run_training", "split_parameters"]

# 2: checkpoints store ``monitor`` and the best epoch; 3: safe_io container instead of torch.save
CHECKPOINT_VERSION = 3
MONITORS = ("retrieval", "loss")
# below this many parameters, CPU training runs on one thread (restored afterwards): small
# matrix products gain nothing from intra-op threads, which contend with other processes
SMALL_MODEL = 2_000_000


def split_parameters(named_parameters, weight_decay):
    """AdamW groups: weight decay on matrices only (not on biases, norms, scales)."""
    decay, no_decay = [], []
    for _, p in named_parameters:
        if p.requires_grad:
            (decay if p.ndim >= 2 else no_decay).append(p)
    groups = [{"params": decay, "weight_decay": float(weight_decay)}]
    if no_decay:
        groups.append({"params": no_decay, "weight_decay": 0.0})
    return groups


def _cpu_state(module):
    return {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}


def _score(row, monitor):
    """Sort key of an epoch, lower is better: (-val_retrieval, val_loss) or (val_loss,)."""
    loss = row.get("val_loss", np.nan)
    loss = np.inf if np.isnan(loss) else loss
    if monitor == "loss":
        return (loss,)
    ret = row.get("val_retrieval", np.nan)
    return (np.inf if np.isnan(ret) else -ret, loss)


def _improves(new, best):
    """``new`` is better than ``best`` (tolerances: 1e-9 on retrieval, 1e-7 on the loss)."""
    if len(new) == 2:
        if new[0] < best[0] - 1e-9:
            return True
        if new[0] > best[0] + 1e-9:
            return False
    return new[-1] < best[-1] - 1e-7


def _load_checkpoint(path, config, monitor):
    hint = ("Checkpoints of that format cannot be converted: delete the file to train from "
            "scratch, or pass another `checkpoint` path.")
    state, _ = load_object(path, "TrainingCheckpoint", CHECKPOINT_VERSION, param="checkpoint",
                           pickle_hint=hint)
    if state.get("version") != CHECKPOINT_VERSION:
        raise ValueError(
            f"Invalid value for `checkpoint`: expected a checkpoint of version "
            f"{CHECKPOINT_VERSION}, got {state.get('version')!r} in {path}."
        )
    if state.get("monitor") != monitor:
        raise ValueError(
            f"Invalid value for `monitor`: {path} was written with monitor="
            f"{state.get('monitor')!r}, got {monitor!r}. Resume with the same `monitor`, or use "
            "another checkpoint path."
        )
    if state["config"] != config:
        diff = sorted(k for k in set(config) | set(state["config"])
                      if config.get(k) != state["config"].get(k))
        raise ValueError(
            f"Invalid value for `checkpoint`: {path} was written by a different model or data "
            f"(differs in {diff}). Use another checkpoint path or delete this file to start over."
        )
    return state


def run_training(model, trainable, batches, loss_fn, val_fn, *, max_epochs, patience, lr,
                 weight_decay, seed, device, checkpoint=None, config=None, desc="training",
                 monitor="loss", verbose=None):
    """Train ``model`` with AdamW and early stopping; returns the history DataFrame.

    Parameters
    ----------
    model : torch.nn.Module
        The whole model (its full state goes into checkpoints).
    trainable : list of (name, Parameter)
        Parameters to optimise; the others are not touched.
    batches : callable (epoch, generator) -> iterable of batches
    loss_fn : callable (batch, epoch, generator) -> (loss tensor, dict of floats)
    val_fn : callable () -> dict of floats with at least ``val_loss``, or None
        None disables early stopping (the last epoch is kept). With
        ``monitor="retrieval"`` it also returns ``val_retrieval``.
    max_epochs, patience : int
    lr, weight_decay : float
    seed : int
    device : torch.device
    checkpoint : path-like | None
        Written atomically after every epoch (a checksummed HDF5 file); if it
        exists, training resumes from it (same ``config`` required).
    config : dict | None
        What must match to resume (architecture, subjects, data sizes).
    desc : str
        Progress-bar label.
    monitor : {"retrieval", "loss"}
        What early stopping and the kept (best) epoch go by: the highest
        ``val_retrieval``, ties broken by the lower ``val_loss``; or the
        lowest ``val_loss``. Stored in checkpoints; resuming with another
        value is an error.

    Returns
    -------
    history : pandas.DataFrame
        One row per epoch: ``epoch``, ``train_loss``, the keys returned by
        ``loss_fn`` and ``val_fn``, ``seconds``, ``best`` (the kept epoch).

    Notes
    -----
    On the CPU, models under ``SMALL_MODEL`` parameters train on one torch
    thread (the previous thread count is restored afterwards): their small
    matrix products gain nothing from threads, and on a busy machine the
    threads made an epoch 10-20 times slower.
    """
    torch = require("torch", "CrossSubjectDecoder")
    config = dict(config or {})
    devices = [device] if device.type == "cuda" else []
    n_threads = torch.get_num_threads()
    n_params = sum(p.numel() for p in model.parameters())
    if device.type == "cpu" and n_params < SMALL_MODEL:
        torch.set_num_threads(1)  # per-step overhead dominates; threads only contend
    try:
        return _run(torch, model, trainable, batches, loss_fn, val_fn, max_epochs, patience, lr,
                    weight_decay, seed, device, devices, checkpoint, config, desc, monitor,
                    verbose)
    finally:
        torch.set_num_threads(n_threads)


def _run(torch, model, trainable, batches, loss_fn, val_fn, max_epochs, patience, lr,
         weight_decay, seed, device, devices, checkpoint, config, desc, monitor, verbose):
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        optimizer = torch.optim.AdamW(split_parameters(trainable, weight_decay), lr=lr)
        state = dict(epoch=0, history=[], best_score=None, best_epoch=None, best_state=None,
                     bad_epochs=0, stopped=False)
        path = Path(checkpoint) if checkpoint is not None else None
        if path is not None:
            for tmp in remove_stale_temp_files(path.parent, target=path.name):
                logger.info("Removed %s, left behind by an interrupted checkpoint write.", tmp)
        if path is not None and path.exists():
            saved = _load_checkpoint(path, config, monitor)
            model.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            gen.set_state(saved["generator"])
            torch.set_rng_state(saved["torch_rng"])
            if devices and saved.get("cuda_rng") is not None:
                torch.cuda.set_rng_state(saved["cuda_rng"], device)
            state.update({k: saved[k] for k in state})
            logger.info("Resuming from %s after epoch %d.", path, state["epoch"])
        bar = progress(range(state["epoch"], max_epochs), total=max_epochs,
                       initial=state["epoch"], desc=desc, verbose=verbose)
        for epoch in bar:
            if state["stopped"]:
                break
            t0 = time.perf_counter()
            model.train()
            losses, extras = [], {}
            for batch in batches(epoch, gen):
                optimizer.zero_grad(set_to_none=True)
                loss, parts = loss_fn(batch, epoch, gen)
                loss.backward()
                optimizer.step()
                losses.append(float(loss.detach()))
                for k, v in parts.items():
                    extras.setdefault(k, []).append(v)
            row = {"epoch": epoch + 1, "train_loss": float(np.mean(losses))}
            row.update({k: float(np.mean(v)) for k, v in extras.items()})
            model.eval()
            if val_fn is not None:
                with torch.no_grad():
                    row.update(val_fn())
                score = _score(row, monitor)
                if state["best_score"] is None or _improves(score, state["best_score"]):
                    state.update(best_score=score, best_epoch=epoch + 1,
                                 best_state=_cpu_state(model), bad_epochs=0)
                else:
                    state["bad_epochs"] += 1
                    state["stopped"] = state["bad_epochs"] >= patience
            row["seconds"] = time.perf_counter() - t0
            state["history"].append(row)
            state["epoch"] = epoch + 1
            bar.set_postfix(loss=f"{row['train_loss']:.3f}",
                            val=f"{row.get('val_loss', np.nan):.3f}")
            if path is not None:
                _save(torch, path, model, optimizer, gen, state, config, monitor, devices,
                      device)
            if state["stopped"]:
                logger.info("Early stopping after epoch %d (best epoch %d by validation %s).",
                            epoch + 1, state["best_epoch"], monitor)
        bar.close()
        if state["best_state"] is not None:
            model.load_state_dict(state["best_state"])
    model.eval()
    history = pd.DataFrame(state["history"])
    if len(history):
        history["best"] = False
        if state["best_epoch"] is not None:
            history.loc[history["epoch"] == state["best_epoch"], "best"] = True
        else:
            history.loc[history.index[-1], "best"] = True
    return history


def _save(torch, path, model, optimizer, gen, state, config, monitor, devices, device):
    payload = dict(version=CHECKPOINT_VERSION, config=config, monitor=monitor,
                   model=_cpu_state(model),
                   optimizer=optimizer.state_dict(), generator=gen.get_state(),
                   torch_rng=torch.get_rng_state(),
                   cuda_rng=torch.cuda.get_rng_state(device) if devices else None, **state)
    save_object(path, "TrainingCheckpoint", CHECKPOINT_VERSION, payload)
