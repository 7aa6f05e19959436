"""ActivationMaximizer: preferred images by gradient ascent, no generative weights.

Feature visualization (Olah et al. 2017; lucid / lucent) applied to an
encoding model: a Fourier-parameterized, colour-decorrelated image is
optimised with Adam so that the objective (e.g. the mean predicted response
of an ROI, :class:`~neurotoolkit.probing.EncoderObjective`) is as high as
possible under random pad / jitter / scale / rotate transforms. Works with any differentiable objective: a Gabor-pyramid encoder on
a CPU, or any backbone whose weights are on disk.
"""

import numpy as np
import pandas as pd

from ..._utils.device import resolve_device
from ..._utils.docs import fill_doc
from ..._utils.deprecation import DEPRECATED, renamed_parameter
from ..._utils.logging import logger, progress
from ..._utils.logging import verbose as verbose_decorator
from ..._utils.optional import require
from ..._utils.random import check_random_state
from ..._utils.validation import check_int, check_option, check_type, describe
from ._result import SynthesisResult

__all__ = ["ActivationMaximizer"]



def _total_variation(x):
    return (x[..., 1:, :] - x[..., :-1, :]).abs().mean(dim=(1, 2, 3)) + \
        (x[..., :, 1:] - x[..., :, :-1]).abs().mean(dim=(1, 2, 3))


@fill_doc
class ActivationMaximizer:
    """Synthesize images that maximise an objective by gradient ascent.

    Each image is a Fourier-basis parameterization (colour-decorrelated,
    sigmoid to [0, 1]) optimised with Adam on::

        mean_T objective(T(x)) - tv_weight * TV(x) - l2_weight * mean((x - 0.5)^2)
            - diversity_weight * mean pairwise cosine similarity of features

    with a fresh random transform ``T`` (pad, jitter, scale, rotate) drawn each
    step. Several random initialisations give several images.

    Parameters
    ----------
    objective : callable
        ``objective(images) -> torch.Tensor (B,)`` for float images (B, 3, H, W)
        in [0, 1], differentiable: e.g. :class:`EncoderObjective`.
    image_size : int | (int, int)
        Size of the synthesized images (the objective resizes them).
    n_steps : int
        Optimisation steps (512 in lucid's recipe).
    learning_rate : float
        Adam learning rate (0.05).
    n_images : int
        Random initialisations, optimised together as one batch.
    parameterization : "fourier" | "pixel"
    decorrelate : bool
        Decorrelate colours with the ImageNet colour covariance (lucid).
    decay_power : float
        Fourier spectrum scaling ``1 / |f| ** decay_power``.
    transforms : "default" | None | list
        Robustness transforms, see :func:`~neurotoolkit.probing.make_transforms`;
        "default" is lucid's (pad 12 -> jitter 8 -> scale 0.9-1.1 -> rotate
        +-10 deg -> jitter 4), in pixels of ``image_size``.
    tv_weight : float
        Total-variation penalty (mean absolute difference of neighbours).
    l2_weight : float
        Penalty on ``mean((x - 0.5) ** 2)``.
    blur_every : int
        Blur the image parameters every ``blur_every`` steps (0: never), a
        classic regulariser against high-frequency patterns; the Fourier
        parameterization already favours low frequencies.
    blur_sigma : float
        Gaussian blur width in pixels.
    diversity_weight : float
        Penalty on the mean pairwise cosine similarity of the images'
        features (``objective.features`` when it exists, else pixels); > 0
        pushes the initialisations apart.
    %(random_state)s
    device : "auto" | "cpu" | "cuda" | "cuda:N" | torch.device, default="auto"
        Torch device of the image parameters. "auto" uses the objective's
        ``device`` attribute when it has one (e.g. :class:`EncoderObjective`),
        else CUDA when torch sees a GPU, else the CPU; asking for an
        unavailable device raises an error.
    %(verbose)s
    lr : float
        Deprecated spelling of ``learning_rate`` (FutureWarning); removed in
        the next release.

    Attributes
    ----------
    result_ : SynthesisResult
        The last result of :meth:`generate`.

    Examples
    --------
    >>> obj = EncoderObjective(encoder, TorchGaborPyramid(), units="FFA")  # doctest: +SKIP
    >>> res = ActivationMaximizer(obj, image_size=96, n_steps=128).generate()  # doctest: +SKIP
    >>> res.images.shape, res.scores, res.seeds  # doctest: +SKIP
    """

    def __init__(self, objective, image_size=128, n_steps=512, learning_rate=0.05, n_images=4,
                 parameterization="fourier", decorrelate=True, decay_power=1.0, transforms="default",
                 tv_weight=0.0, l2_weight=0.0, blur_every=0, blur_sigma=0.5, diversity_weight=0.0,
                 random_state=0, device="auto", verbose=None, lr=DEPRECATED):
        self.objective = objective
        self.image_size = image_size
        self.n_steps = n_steps
        self.learning_rate = learning_rate
        self.lr = lr
        self.n_images = n_images
        self.parameterization = parameterization
        self.decorrelate = decorrelate
        self.decay_power = decay_power
        self.transforms = transforms
        self.tv_weight = tv_weight
        self.l2_weight = l2_weight
        self.blur_every = blur_every
        self.blur_sigma = blur_sigma
        self.diversity_weight = diversity_weight
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def _check(self):
        if not callable(self.objective):
            raise TypeError(
                f"Invalid value for `objective`: expected a callable images -> (B,) tensor such as "
                f"EncoderObjective, got {describe(self.objective)}."
            )
        check_int("n_steps", self.n_steps, min_value=0)
        check_int("n_images", self.n_images, min_value=1)
        check_int("blur_every", self.blur_every, min_value=0)
        check_option("parameterization", self.parameterization, ("fourier", "pixel"))
        self._learning_rate, lr_name = renamed_parameter(
            "ActivationMaximizer", "lr", self.lr, "learning_rate", self.learning_rate)
        for name in (lr_name, "tv_weight", "l2_weight", "diversity_weight", "decay_power", "blur_sigma"):
            value = self._learning_rate if name == lr_name else getattr(self, name)
            check_type(name, value, "numeric")
            strict = name in (lr_name, "blur_sigma")
            if value < 0 or (strict and value == 0):
                raise ValueError(
                    f"Invalid value for `{name}`: expected a {'positive' if strict else 'non-negative'} "
                    f"number, got {value!r}."
                )

    def _diversity(self, x):
        torch = require("torch")
        feats = self.objective.features(x) if hasattr(self.objective, "features") else \
            torch.nn.functional.avg_pool2d(x, 4)
        feats = feats.reshape(x.shape[0], -1)
        feats = feats - feats.mean(dim=1, keepdim=True)
        z = torch.nn.functional.normalize(feats, dim=1)
        sim = z @ z.T
        n = x.shape[0]
        return (sim.sum() - sim.diagonal().sum()) / (n * (n - 1))

    def _score(self, x):
        torch = require("torch")
        out = self.objective(x)
        if not isinstance(out, torch.Tensor) or out.shape != (x.shape[0],):
            raise ValueError(
                f"Invalid value for `objective`: expected it to return a tensor of shape "
                f"({x.shape[0]},), got {tuple(out.shape) if isinstance(out, torch.Tensor) else describe(out)}."
            )
        return out

    @fill_doc
    @verbose_decorator
    def generate(self, verbose=None):
        """Run the optimisation.

        Parameters
        ----------
        %(verbose)s

        Returns
        -------
        result : SynthesisResult
            Images (n_images, 3, H, W) in [0, 1], final scores (n_images,),
            seeds, per-step ``trace`` (n_images, n_steps) and ``history``,
            and the settings in ``params`` (transforms included).
        """
        torch = require("torch", purpose="ActivationMaximizer")
        from ._image_param import make_image_param, make_transforms

        self._check()
        rng = check_random_state(self.random_state)
        seed = int(rng.integers(2**31 - 1))
        gen = torch.Generator().manual_seed(seed)
        t_rng = np.random.default_rng(seed + 1)
        device = self.device
        if (device is None or (isinstance(device, str) and device == "auto")) and \
                getattr(self.objective, "device", None) is not None:
            device = self.objective.device
        device = resolve_device(device, purpose="ActivationMaximizer")
        kwargs = {"decay_power": self.decay_power} if self.parameterization == "fourier" else {}
        param = make_image_param(self.parameterization, self.n_images, self.image_size,
                                 decorrelate=self.decorrelate, generator=gen, **kwargs).to(device)
        transforms = make_transforms(self.transforms)
        n = self.n_images
        use_div = self.diversity_weight > 0 and n > 1
        opt = torch.optim.Adam(param.parameters(), lr=float(self._learning_rate))
        steps, objs, losses = [], [], []
        logger.info("Activation maximization: %d images, %d steps, %s parameterization",
                    n, self.n_steps, self.parameterization)
        for step in progress(range(int(self.n_steps)), desc="activation max", verbose=verbose):
            opt.zero_grad(set_to_none=True)
            x = param()
            xt = transforms(x, t_rng)
            obj = self._score(xt)
            loss = -obj
            if self.tv_weight:
                loss = loss + self.tv_weight * _total_variation(x)
            if self.l2_weight:
                loss = loss + self.l2_weight * ((x - 0.5) ** 2).mean(dim=(1, 2, 3))
            total = loss.sum()
            if use_div:
                total = total + self.diversity_weight * n * self._diversity(xt)
            total.backward()
            opt.step()
            if self.blur_every and (step + 1) % int(self.blur_every) == 0:
                param.blur_(self.blur_sigma)
            steps.append(step)
            objs.append(obj.detach().cpu().numpy())
            losses.append(loss.detach().cpu().numpy())
        with torch.no_grad():
            images = param()
            scores = self._score(images).detach().cpu().numpy().astype(np.float64)
        history = pd.DataFrame({
            "step": np.repeat(np.asarray(steps, dtype=int), n),
            "image": np.tile(np.arange(n), len(steps)),
            "objective": np.concatenate(objs) if objs else np.zeros(0),
            "loss": np.concatenate(losses) if losses else np.zeros(0),
        })
        describe_obj = getattr(self.objective, "describe", None)
        params = {
            "method": "activation_maximization", "image_size": list(param.size),
            "n_steps": int(self.n_steps), "learning_rate": float(self._learning_rate),
            "optimizer": "Adam",
            "n_images": n, "image_param": param.describe(), "transforms": transforms.describe(),
            "tv_weight": float(self.tv_weight), "l2_weight": float(self.l2_weight),
            "blur_every": int(self.blur_every), "blur_sigma": float(self.blur_sigma),
            "diversity_weight": float(self.diversity_weight), "seed": seed,
            "random_state": self.random_state if isinstance(self.random_state, (int, type(None))) else "generator",
            "objective": describe_obj() if callable(describe_obj) else repr(self.objective),
        }
        trace = np.stack(objs, axis=1).astype(np.float64) if objs else None
        self.result_ = SynthesisResult(images.detach().cpu().numpy().astype(np.float32), scores,
                                       np.full(n, seed, dtype=np.int64), trace, history, params)
        return self.result_
