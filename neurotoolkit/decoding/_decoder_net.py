"""The torch network of :class:`CrossSubjectDecoder` (per-subject adapters, a shared
residual MLP, one linear head per target space; MindEye2, Scotti et al., ICML 2024)
and its training pieces (losses over heads, batches split across subjects)."""

import numpy as np

from .._utils.optional import require
from ._adaptation import top1_retrieval
from ._contrastive import info_nce, mixco, mixco_loss, soft_clip
from ._training import run_training

__all__ = ["build_net"]


# ------------------------------------------------------------------ torch model
def build_net(adapters, n_features, hidden_dim, n_blocks, dropout, head_dims):
    torch = require("torch", "CrossSubjectDecoder")
    nn = torch.nn

    class Block(nn.Module):
        """``x + Lin(Drop(GELU(Lin(LN(x)))))``."""

        def __init__(self):
            super().__init__()
            self.norm = nn.LayerNorm(hidden_dim)
            self.fc1 = nn.Linear(hidden_dim, hidden_dim)
            self.drop = nn.Dropout(dropout)
            self.fc2 = nn.Linear(hidden_dim, hidden_dim)

        def forward(self, x):
            return x + self.fc2(self.drop(torch.nn.functional.gelu(self.fc1(self.norm(x)))))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.adapters = nn.ModuleDict(
                {k: adapters.build_module(v) for k, v in n_features.items()})
            self.backbone = nn.Sequential(
                nn.Identity() if adapters.latent_dim == hidden_dim
                else nn.Linear(adapters.latent_dim, hidden_dim),
                *[Block() for _ in range(n_blocks)])
            self.heads = nn.ModuleDict({h: nn.Sequential(nn.LayerNorm(hidden_dim),
                                                         nn.Linear(hidden_dim, d))
                                        for h, d in head_dims.items()})

        def forward(self, chunks):
            """``chunks``: list of (adapter key, (n_k, V_k) tensor) -> dict head -> (sum n_k, d)."""
            z = torch.cat([self.adapters[k](x) for k, x in chunks], dim=0)
            z = self.backbone(z)
            return {h: head(z) for h, head in self.heads.items()}

    return Net()


class _DecoderTraining:
    """Training pieces of :class:`CrossSubjectDecoder` (a mixin: uses its parameters)."""

    def _tensors(self, torch, xs, ys, rows):
        dev = self.device_
        tx = {s: torch.as_tensor(xs[s][rows[s]], device=dev) for s in xs}
        ty = {h: {s: torch.as_tensor((ys[h][s][rows[s]] - self.y_mean_[h]) / self.y_scale_[h],
                                     device=dev) for s in xs} for h in ys}
        return tx, ty

    def _loss_parts(self, torch, out, ty, mixed):
        """Contrastive + MSE summed over heads; ``mixed`` is (perm, lam) or None."""
        contrast = soft_clip if self.loss == "softclip" else info_nce
        c_total, m_total = 0.0, 0.0
        for h, pred in out.items():
            y = ty[h]
            if mixed is not None:
                c = mixco_loss(pred, y, mixed[0], mixed[1], self.temperature)
                keep = mixed[1] >= 1.0
                m = ((pred[keep] - y[keep]) ** 2).mean() if keep.any() else pred.sum() * 0.0
            else:
                c = contrast(pred, y, self.temperature)
                m = ((pred - y) ** 2).mean()
            c_total = c_total + c
            m_total = m_total + m
        return c_total, m_total

    def _train(self, torch, keys, tx, ty, vx, vy, trainable, max_epochs, patience, lr, checkpoint,
               config, desc, monitor, train_module=None):
        n_sub = len(keys)
        per = max(1, self.batch_size // n_sub)
        n_batches = int(np.ceil(max(len(tx[s]) for s in keys) / per))
        n_mix = round(float(self.mixup * max_epochs))

        def batches(epoch, gen):
            perms = {}
            for s in keys:
                n = len(tx[s])
                reps = int(np.ceil(n_batches * min(per, n) / n))
                perms[s] = torch.cat([torch.randperm(n, generator=gen) for _ in range(reps)])
            for b in range(n_batches):
                yield [(s, perms[s][b * min(per, len(tx[s])):(b + 1) * min(per, len(tx[s]))])
                       for s in keys]

        def loss_fn(batch, epoch, gen):
            chunks, targets, perms, lams, offset = [], {h: [] for h in ty}, [], [], 0
            mix = epoch < n_mix
            for s, idx in batch:
                idx = idx.to(self.device_)
                x = tx[s][idx]
                if mix:
                    x, perm, lam = mixco(x, generator=gen)
                    perms.append(perm + offset)
                    lams.append(lam)
                chunks.append((keys[s], x))
                for h in ty:
                    targets[h].append(ty[h][s][idx])
                offset += len(idx)
            if train_module is not None:
                model.eval()
                train_module.train()
            out = model(chunks)
            target = {h: torch.cat(v) for h, v in targets.items()}
            mixed = (torch.cat(perms), torch.cat(lams)) if mix else None
            c, m = self._loss_parts(torch, out, target, mixed)
            loss = c + self.mse_weight * m
            return loss, {"contrastive": float(c.detach()), "mse": float(m.detach()),
                          "mixup": float(mix)}

        def val_fn():
            losses, rets, chance = [], [], []
            for s in vx:
                if len(vx[s]) < 2:
                    continue
                out = model([(keys[s], vx[s])])
                c, m = self._loss_parts(torch, out, {h: vy[h][s] for h in vy}, None)
                losses.append(float(c + self.mse_weight * m))
                first = next(iter(out))
                rets.append(top1_retrieval(out[first].cpu().numpy(), vy[first][s].cpu().numpy()))
                chance.append(1.0 / len(vx[s]))
            if not losses:
                return {"val_loss": np.nan}
            return {"val_loss": float(np.mean(losses)), "val_retrieval": float(np.mean(rets)),
                    "val_chance": float(np.mean(chance))}

        model = self.model_
        has_val = any(len(vx[s]) >= 2 for s in vx)
        return run_training(model, trainable, batches, loss_fn, val_fn if has_val else None,
                            max_epochs=max_epochs, patience=patience, lr=lr,
                            weight_decay=self.weight_decay, seed=self._seed(),
                            device=self.device_, checkpoint=checkpoint, config=config, desc=desc,
                            monitor=monitor, verbose=self.verbose)
