"""One GAN training step, and the state a checkpoint must hold to continue it exactly.

The step: one pass of D over (real, matching sentence), (real, mismatched sentence) and (fake, sentence),
with hinge losses, the contrastive term and, on the steps it is due, MA-GP (`LazyPenalty`); then the updates
of the chosen schedule. Alternating: D steps first, then G against the updated D (a second D pass over the
fakes, D's weights frozen so no gradient is computed for them). Simultaneous: both players' gradients come
from the one pass, G's through D's activations. Then the EMA update.

How the step runs (`Acceleration`: autocast dtype, memory layout, torch.compile) is separate from what it
computes. The gradient-penalty pass always runs eagerly: it backpropagates through a gradient
(create_graph=True), which compiled graphs do not support.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

import torch
from torch import nn

from t2igan.config import TrainParams
from t2igan.errors import ConfigError, TrainingDiverged
from t2igan.gan.architecture import DISCRIMINATOR_INPUT, GANConfig
from t2igan.gan.augment import diff_augment
from t2igan.gan.conditioning import Words, normalize_text
from t2igan.gan.discriminator import Discriminator, load_d_backbone
from t2igan.gan.ema import make_ema, update_ema
from t2igan.gan.generator import Generator
from t2igan.gan.losses import contrastive, d_hinge, g_hinge, matching_aware_gp, mode_seeking
from t2igan.text.tuning import TokenBatch
from t2igan.training.data import stream_seed
from t2igan.training.distributed import World, average_gradients, average_scalars, broadcast_buffers
from t2igan.training.init_from import InitialWeights

if TYPE_CHECKING:
    from t2igan.training.text_model import TrainableText

ModuleT = TypeVar("ModuleT", bound=nn.Module)
_MODULES = ("generator", "discriminator", "ema")  # the networks a checkpoint holds

# Random streams of a step, per rank (stream_seed(seed, step, stream + 100 * rank)); 1 is the sampler's.
NOISE_STREAM = 2
AUGMENT_STREAM = 3
MODE_SEEKING_STREAM = 4  # the second noise of the mode-seeking pairs


@dataclass(frozen=True)
class Acceleration:
    autocast: torch.dtype | None  # None = float32
    channels_last: bool
    compile: bool

    @classmethod
    def resolve(cls, params: TrainParams, device: torch.device) -> Acceleration:
        """bf16 autocast by default only on CUDA: on CPUs measured here, bf16 convolutions ran 2.4x slower."""
        precision = params.precision
        if precision == "auto":
            precision = "bfloat16" if device.type == "cuda" else "float32"
        dtype = torch.bfloat16 if precision == "bfloat16" else None
        return cls(autocast=dtype, channels_last=params.channels_last, compile=params.compile)

    @property
    def memory_format(self) -> torch.memory_format:
        return torch.channels_last if self.channels_last else torch.contiguous_format


@dataclass(frozen=True)
class LazyPenalty:
    """MA-GP on every `interval`-th step only, its weight scaled by the interval (StyleGAN2's lazy R1).

    The penalty's expected contribution per step stays that of applying it every step, for 1/interval of
    its cost. Adam's moments are not corrected for the interval (StyleGAN2 does; measured here, no need).
    """

    weight: float  # k of the penalty, per step
    power: float  # p
    interval: int

    @classmethod
    def from_params(cls, params: TrainParams) -> LazyPenalty | None:
        if params.gp_every <= 0 or params.ma_gp_weight <= 0:
            return None
        return cls(params.ma_gp_weight, params.ma_gp_power, params.gp_every)

    def due(self, step: int) -> bool:
        return step % self.interval == 0

    @property
    def applied_weight(self) -> float:
        return self.weight * self.interval


@dataclass
class StepLosses:
    d: float
    g: float
    gp: float | None
    real: float
    fake: float

    def as_metrics(self) -> dict[str, float]:
        out = {"loss_d": self.d, "loss_g": self.g, "logit_real": self.real, "logit_fake": self.fake}
        if self.gp is not None:
            out["ma_gp"] = self.gp
        return out


@dataclass(frozen=True)
class _Batch:
    """One step's inputs on the device, as D sees them."""

    real: torch.Tensor  # augmented when augmentation is on
    text: torch.Tensor  # normalised sentence embeddings (from the adapted LM: with its gradient)
    g_text: torch.Tensor  # what G is conditioned on: the same, without the LM's gradient
    z: torch.Tensor
    augment: Callable[[torch.Tensor], torch.Tensor]  # what every image D sees goes through
    words: Words | None = None  # the captions' token states, for word attention

    @property
    def mismatched(self) -> torch.Tensor:
        return self.text.roll(1, dims=0)

    @property
    def mismatched_words(self) -> Words | None:
        """The words of the same mismatched captions as `mismatched`."""
        return self.words.roll(1) if self.words is not None else None


@dataclass(frozen=True)
class _DiscriminatorPass:
    loss_d: torch.Tensor
    gp: torch.Tensor | None
    real_logits: torch.Tensor
    fake_logits: torch.Tensor
    fake: torch.Tensor
    fake_features: torch.Tensor  # of the undetached fakes in the simultaneous schedule


class Trainer:
    def __init__(
        self,
        gan: GANConfig,
        params: TrainParams,
        device: torch.device,
        world: World | None = None,
        text: TrainableText | None = None,
    ) -> None:
        """`text`: the language model adapted with D (train.text.finetune); None trains on fixed vectors."""
        if params.contrastive_weight > 0 and gan.contrastive_dim == 0:
            raise ConfigError("train.contrastive_weight > 0 needs a discriminator with a contrastive head")
        self.gan = gan
        self.params = params
        self.device = device
        self.world = world or World()
        self.accel = Acceleration.resolve(params, device)
        self.penalty = LazyPenalty.from_params(params)
        self.simultaneous = params.updates == "simultaneous"
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed shapes: pick the fastest kernels once
        torch.manual_seed(params.seed)  # weight initialisation
        self.generator = _placed(Generator(gan), device, self.accel.memory_format)
        self.discriminator = _placed(Discriminator(gan, load_d_backbone(gan)), device, self.accel.memory_format)
        self._average = make_ema(self.generator)
        self.ema = cast(Generator, self._average.module)  # AveragedModel keeps a deep copy of G
        self._build_passes()
        betas = (float(params.betas[0]), float(params.betas[1]))
        fused = device.type == "cuda"  # one kernel per optimizer step instead of several per tensor
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=params.lr_g, betas=betas, fused=fused)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=params.lr_d, betas=betas, fused=fused)
        self.text = text
        self.opt_t = (
            torch.optim.Adam(text.parameters(), lr=params.text.lr, betas=betas, fused=fused) if text else None
        )

    def _build_passes(self) -> None:
        """The passes the step runs: compiled views sharing the eager modules' parameters, or those modules."""
        D = self.discriminator
        if not self.accel.compile:
            self._g: Callable[..., torch.Tensor] = self.generator
            self._d_features: Callable[..., torch.Tensor] = D.features
            self._d_head: Callable[..., torch.Tensor] = D.head
            return
        # Simultaneous updates backpropagate through D's graph twice (retain_graph), which compiled backward
        # functions that donate their buffers refuse. Set for every compiled trainer, since compiled graphs are
        # shared by all instances of a module class in the process (an alternating trainer's would be reused
        # by a simultaneous one). The config module is imported by name: `torch._functorch` does not import it
        # until something else has (in a fresh `t2igan train`, nothing has).
        from torch._functorch import config as functorch_config

        functorch_config.donated_buffer = False
        self._g = torch.compile(self.generator)
        self._d_features = torch.compile(D.features)
        self._d_head = torch.compile(D.head)

    def _autocast(self) -> torch.autocast:
        dtype = self.accel.autocast
        return torch.autocast(self.device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None)

    def _rng(self, step: int, stream: int) -> torch.Generator:
        """This rank's random stream for one purpose at one step (rank 0 and a single process: `stream`)."""
        seed = stream_seed(self.params.seed, step, stream + 100 * self.world.rank)
        return torch.Generator(device=self.device).manual_seed(seed)

    def step(
        self, step: int, real: torch.Tensor, text: torch.Tensor | TokenBatch, words: Words | None = None
    ) -> StepLosses:
        """`text`: sentence vectors, or the captions' tokens when the LM is adapted; `words`: their token
        states, for a model with word attention."""
        if self.gan.word_attention and words is None:
            raise ConfigError("this model attends to words: the batches need the captions' token states")
        batch = self._batch(step, real, text, words)
        with self._autocast():
            judged = self._discriminator_pass(step, batch)
        if self.simultaneous:
            loss_g = self._simultaneous_update(step, judged, batch)
        else:
            loss_g = self._alternating_update(step, judged, batch)
        broadcast_buffers(self.generator, self.world)
        update_ema(self._average, self.generator, self.params.ema_decay, step)
        losses = self._averaged_losses(judged, loss_g)
        self._guard(step, losses)
        return losses

    def _batch(
        self, step: int, real: torch.Tensor, text: torch.Tensor | TokenBatch, words: Words | None
    ) -> _Batch:
        p = self.params
        real = real.to(self.device, non_blocking=True, memory_format=self.accel.memory_format)
        if isinstance(text, TokenBatch):
            if self.text is None:
                raise ConfigError("tokens given to a trainer whose language model is frozen")
            text = self.text.vectors(text)
        # D and the gradient penalty see the normalised sentence (see normalize_text for why).
        text = normalize_text(text.to(self.device, non_blocking=True))
        # Each rank draws its own noise for its share of the batch.
        noise = self._rng(step, NOISE_STREAM)
        z = torch.randn(real.shape[0], self.gan.z_dim, generator=noise, device=self.device)

        augment: Callable[[torch.Tensor], torch.Tensor] = _unchanged
        if p.augment:
            augment = functools.partial(
                diff_augment, policy=p.augment, generator=self._rng(step, AUGMENT_STREAM)
            )
        # The LM learns with D, from D's loss: it is the critic's half that tells captions apart. Were G's
        # loss to move it too, G could move its own targets (make captions alike, so D cannot mismatch them).
        on_device = words.to(self.device) if words is not None and self.gan.word_attention else None
        return _Batch(augment(real), text, text.detach(), z, augment, on_device)

    def _discriminator_pass(self, step: int, batch: _Batch) -> _DiscriminatorPass:
        """D's loss from one pass over reals (with MA-GP when due), mismatched captions and fakes."""
        p, D = self.params, self.discriminator
        gp = None
        if self.penalty is not None and self.penalty.due(step):
            gp, real_features, real_logits = matching_aware_gp(
                D, batch.real, batch.text, self.penalty.applied_weight, self.penalty.power, batch.words
            )
        else:
            real_features = self._d_features(batch.real)
            real_logits = self._d_head(real_features, batch.text, batch.words)
        mismatched_logits = self._d_head(real_features, batch.mismatched, batch.mismatched_words)
        fake = self._g(batch.z, batch.g_text, batch.words)
        # Simultaneous updates: this one pass of D over the fakes also gives G its gradient.
        fake_features = self._d_features(batch.augment(fake if self.simultaneous else fake.detach()))
        fake_logits = self._d_head(fake_features, batch.text, batch.words)
        loss_d = d_hinge(real_logits, fake_logits, mismatched_logits)
        if p.contrastive_weight > 0:
            scores = D.match_scores(real_features, batch.text)
            loss_d = loss_d + p.contrastive_weight * contrastive(
                scores, p.contrastive_temperature, symmetric=True
            )
        if gp is not None:
            loss_d = loss_d + gp
        return _DiscriminatorPass(loss_d, gp, real_logits, fake_logits, fake, fake_features)

    def _generator_loss(self, features: torch.Tensor, logits: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        p = self.params
        loss = g_hinge(logits)
        if p.contrastive_weight > 0:
            scores = self.discriminator.match_scores(features, text)
            loss = loss + p.contrastive_weight * contrastive(scores, p.contrastive_temperature, symmetric=False)
        return loss

    def _mode_seeking(self, step: int, batch: _Batch, fake: torch.Tensor) -> torch.Tensor:
        """The mode-seeking term: the first `mode_seeking_pairs` captions drawn again with another noise, each
        pair of images compared (0 when the term is off). One extra G pass over a few images, no D pass."""
        p = self.params
        if p.mode_seeking_weight <= 0:
            return torch.zeros((), device=self.device)
        pairs = min(p.mode_seeking_pairs, batch.z.shape[0])
        z = torch.randn(
            pairs, self.gan.z_dim, generator=self._rng(step, MODE_SEEKING_STREAM), device=self.device
        )
        words = batch.words[:pairs] if batch.words is not None else None
        again = self._g(z, batch.g_text[:pairs], words)
        return p.mode_seeking_weight * mode_seeking(fake[:pairs], again, batch.z[:pairs], z)

    def _critic(self) -> list[tuple[nn.Module, torch.optim.Optimizer]]:
        """What D's loss updates: D, and the language model when it is adapted."""
        players: list[tuple[nn.Module, torch.optim.Optimizer]] = [(self.discriminator, self.opt_d)]
        if self.text is not None and self.opt_t is not None:
            players.append((self.text.model, self.opt_t))
        return players

    def _alternating_update(self, step: int, judged: _DiscriminatorPass, batch: _Batch) -> torch.Tensor:
        """D's step, then G's against the updated D (a second pass of D over the same fakes)."""
        self._update(self._critic(), judged.loss_d)
        with _frozen(self.discriminator):  # G's step: no gradient for D's weights
            with self._autocast():
                features = self._d_features(batch.augment(judged.fake))
                logits = self._d_head(features, batch.g_text, batch.words)
                loss_g = self._generator_loss(features, logits, batch.g_text)
                loss_g = loss_g + self._mode_seeking(step, batch, judged.fake)
            self._update([(self.generator, self.opt_g)], loss_g)
        return loss_g

    def _simultaneous_update(self, step: int, judged: _DiscriminatorPass, batch: _Batch) -> torch.Tensor:
        """Both players' gradients from the same D: D's from its loss, G's through D's activations only."""
        with self._autocast():
            loss_g = self._generator_loss(judged.fake_features, judged.fake_logits, batch.text)
            loss_g = loss_g + self._mode_seeking(step, batch, judged.fake)
        critic, generator = self._critic(), [(self.generator, self.opt_g)]
        for updated, loss, keep_graph in ((critic, judged.loss_d, True), (generator, loss_g, False)):
            params = [param for model, _ in updated for param in model.parameters() if param.requires_grad]
            grads = torch.autograd.grad(loss, params, retain_graph=keep_graph, allow_unused=True)
            for param, grad in zip(params, grads, strict=True):
                param.grad = grad
        for model, optimizer in (*critic, *generator):
            average_gradients(model, self.world)
            optimizer.step()
        return loss_g

    def _update(self, updated: list[tuple[nn.Module, torch.optim.Optimizer]], loss: torch.Tensor) -> None:
        for _, optimizer in updated:
            optimizer.zero_grad(set_to_none=True)
        loss.backward()
        for model, optimizer in updated:
            average_gradients(model, self.world)
            optimizer.step()

    def _averaged_losses(self, judged: _DiscriminatorPass, loss_g: torch.Tensor) -> StepLosses:
        """Averaged over ranks, so that every rank logs and judges (the divergence guard) the same numbers."""
        gp = judged.gp
        scalars = [
            judged.loss_d.detach(),
            loss_g.detach(),
            gp.detach() if gp is not None else torch.zeros((), device=self.device),
            judged.real_logits.detach().float().mean(),
            judged.fake_logits.detach().float().mean(),
        ]
        d, g, gp_value, real, fake = average_scalars(torch.stack([v.double() for v in scalars]), self.world)
        return StepLosses(d=d, g=g, gp=gp_value if gp is not None else None, real=real, fake=fake)

    def _guard(self, step: int, losses: StepLosses) -> None:
        for name, value in (("loss_d", losses.d), ("loss_g", losses.g)):
            if not math.isfinite(value):
                raise TrainingDiverged(f"step {step}: {name} is {value}; training stopped")
            if abs(value) > self.params.max_loss:
                raise TrainingDiverged(
                    f"step {step}: {name}={value:.3g} exceeds train.max_loss={self.params.max_loss:g}; "
                    "training stopped"
                )

    def learning_rates(self) -> dict[str, float]:
        rates = {"lr_g": self.opt_g.param_groups[0]["lr"], "lr_d": self.opt_d.param_groups[0]["lr"]}
        if self.opt_t is not None:
            rates["lr_text"] = self.opt_t.param_groups[0]["lr"]
        return rates

    def start_from(self, source: InitialWeights) -> None:
        """Fine-tuning: the source's weights, fresh optimizers (their moments belong to another dataset)."""
        self.generator.load_state_dict(source.generator)
        self.ema.load_state_dict(source.ema)
        if source.discriminator is not None and self._same_discriminator_input(source.gan):
            self.discriminator.load_state_dict(source.discriminator)
        if source.text is not None and self.text is None:
            raise ConfigError(
                f"train.init_from {source.requested}: its generator was trained with an adapted language "
                "model; set train.text.finetune as it was"
            )
        if source.text is not None and self.text is not None:
            self.text.start_from(source.text, source.text_record)

    def _same_discriminator_input(self, source_gan: dict[str, Any]) -> bool:
        """Does the source's D read what ours does? (Else ours starts fresh: another backbone, other heads.)"""
        theirs = GANConfig.from_dict(source_gan).to_dict()
        ours = self.gan.to_dict()
        return all(theirs[key] == ours[key] for key in DISCRIMINATOR_INPUT)

    def state_dict(self) -> dict[str, Any]:
        return {
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "ema": self.ema.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "torch_rng": torch.get_rng_state(),
            **self._text_state(),
        }

    def _text_state(self) -> dict[str, Any]:
        if self.text is None or self.opt_t is None:
            return {}
        return {"text": self.text.state_dict(), "opt_text": self.opt_t.state_dict()}

    def why_unfit(self, state: object) -> str | None:
        """Why a checkpoint's trainer state cannot be loaded into this trainer, or None when it can.

        Checked before loading anything: a state that fails halfway would leave the trainer half replaced.
        """
        if not isinstance(state, dict) or not {*_MODULES, "opt_g", "opt_d", "torch_rng"} <= set(state):
            return "it lacks parts of the trainer's state"
        for name in _MODULES:
            ours = getattr(self, name).state_dict()
            theirs = state[name]
            if not isinstance(theirs, dict) or set(theirs) != set(ours):
                return f"{name}: other weights"
            wrong = next((k for k in ours if getattr(theirs[k], "shape", None) != ours[k].shape), None)
            if wrong is not None:
                shape = tuple(getattr(theirs[wrong], "shape", ()))
                return f"{name}.{wrong}: shape {shape}, not {tuple(ours[wrong].shape)}"
        if (self.text is None) != ("text" not in state):
            return "the language model was adapted in one and frozen in the other"
        return self.text.why_unfit(state["text"]) if self.text is not None else None

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.ema.load_state_dict(state["ema"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        if self.text is not None and self.opt_t is not None:
            self.text.load_state_dict(state["text"])
            self.opt_t.load_state_dict(state["opt_text"])
        torch.set_rng_state(state["torch_rng"])


@contextlib.contextmanager
def _frozen(module: nn.Module) -> Iterator[None]:
    module.requires_grad_(False)
    try:
        yield
    finally:
        module.requires_grad_(True)


def _unchanged(images: torch.Tensor) -> torch.Tensor:
    return images


def _placed(module: ModuleT, device: torch.device, memory_format: torch.memory_format) -> ModuleT:
    """The module on `device` in `memory_format` (Module.to takes the format; its type stubs do not say so)."""
    return module.to(device, memory_format=memory_format)  # type: ignore[call-overload]
