"""One GAN training step, and the state a checkpoint must hold to continue it exactly.

The step: D on (real, matching sentence) vs (fake, sentence) and (real, mismatched sentence) with hinge loss,
plus MA-GP every `gp_every` steps (scaled by the interval, the lazy regularisation of StyleGAN2); then G
against the updated D, with D's weights frozen so no gradient is computed for them; then the EMA update.

How the step runs (`Acceleration`: autocast dtype, memory layout, torch.compile) is separate from what it
computes. The gradient-penalty pass always runs eagerly: it backpropagates through a gradient
(create_graph=True), which compiled graphs do not support.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from t2igan.config import TrainParams
from t2igan.errors import ConfigError, TrainingDiverged
from t2igan.gan.augment import diff_augment
from t2igan.gan.config import GANConfig, normalize_text
from t2igan.gan.discriminator import Discriminator
from t2igan.gan.ema import make_ema, update_ema
from t2igan.gan.generator import Generator
from t2igan.gan.losses import contrastive, d_hinge, g_hinge, matching_aware_gp
from t2igan.training.data import stream_seed
from t2igan.training.distributed import World, average_gradients, average_scalars, broadcast_buffers
from t2igan.training.init_from import InitialWeights


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


class Trainer:
    def __init__(
        self, gan: GANConfig, params: TrainParams, device: torch.device, world: World = World()
    ) -> None:
        self.gan = gan
        self.params = params
        self.device = device
        self.world = world
        if params.contrastive_weight > 0 and gan.contrastive_dim == 0:
            raise ConfigError("train.contrastive_weight > 0 needs a discriminator with a contrastive head")
        self.accel = Acceleration.resolve(params, device)
        if device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # fixed shapes: pick the fastest kernels once
        torch.manual_seed(params.seed)  # weight initialisation
        self.generator = Generator(gan).to(device, memory_format=self.accel.memory_format)
        self.discriminator = Discriminator(gan).to(device, memory_format=self.accel.memory_format)
        self.ema = make_ema(self.generator)
        # The passes the step runs: compiled views that share the eager modules' parameters, or those modules.
        D = self.discriminator
        if self.accel.compile:
            # Simultaneous updates backpropagate through D's graph twice (retain_graph), which compiled backward
            # functions that donate their buffers refuse. Set for every compiled trainer, since compiled graphs
            # are shared by all instances of a module class in the process (an alternating trainer's would be
            # reused by a simultaneous one).
            torch._functorch.config.donated_buffer = False
        self._g = torch.compile(self.generator) if self.accel.compile else self.generator
        self._d_features = torch.compile(D.features) if self.accel.compile else D.features
        self._d_head = torch.compile(D.head) if self.accel.compile else D.head
        betas = (float(params.betas[0]), float(params.betas[1]))
        fused = device.type == "cuda"  # one kernel per optimizer step instead of several per tensor
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=params.lr_g, betas=betas, fused=fused)
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=params.lr_d, betas=betas, fused=fused)

    def _autocast(self) -> torch.autocast:
        dtype = self.accel.autocast
        return torch.autocast(self.device.type, dtype=dtype or torch.bfloat16, enabled=dtype is not None)

    def step(self, step: int, real: torch.Tensor, text: torch.Tensor) -> StepLosses:
        p = self.params
        real = real.to(self.device, non_blocking=True, memory_format=self.accel.memory_format)
        # D and the gradient penalty see the normalised sentence (see normalize_text for why).
        text = normalize_text(text.to(self.device, non_blocking=True))
        # Each rank draws its own noise for its share of the batch; rank 0 (and a single process) use stream 2.
        noise_seed = stream_seed(p.seed, step, 2 + 100 * self.world.rank)
        noise_gen = torch.Generator(device=self.device).manual_seed(noise_seed)
        z = torch.randn(real.shape[0], self.gan.z_dim, generator=noise_gen, device=self.device)
        mismatched = text.roll(1, dims=0)
        D = self.discriminator
        augment_gen = None
        if p.augment:
            augment_seed = stream_seed(p.seed, step, 3 + 100 * self.world.rank)
            augment_gen = torch.Generator(device=self.device).manual_seed(augment_seed)

        def seen_by_d(images: torch.Tensor) -> torch.Tensor:
            return diff_augment(images, p.augment, augment_gen) if augment_gen is not None else images

        real = seen_by_d(real)
        contrast = p.contrastive_weight > 0
        simultaneous = p.updates == "simultaneous"

        with self._autocast():
            apply_gp = p.gp_every > 0 and p.ma_gp_weight > 0 and step % p.gp_every == 0
            gp = None
            if apply_gp:
                gp, real_features, real_logits = matching_aware_gp(
                    D, real, text, p.ma_gp_weight * p.gp_every, p.ma_gp_power
                )
            else:
                real_features = self._d_features(real)
                real_logits = self._d_head(real_features, text)
            mismatched_logits = self._d_head(real_features, mismatched)
            fake = self._g(z, text)
            # Simultaneous updates: this one pass of D over the fakes also gives G its gradient.
            fake_features = self._d_features(seen_by_d(fake if simultaneous else fake.detach()))
            fake_logits = self._d_head(fake_features, text)
            loss_d = d_hinge(real_logits, fake_logits, mismatched_logits)
            if contrast:
                scores = D.match_scores(real_features, text)
                both_ways = contrastive(scores, p.contrastive_temperature, symmetric=True)
                loss_d = loss_d + p.contrastive_weight * both_ways
            if gp is not None:
                loss_d = loss_d + gp
            if simultaneous:
                loss_g = self._generator_loss(fake_features, fake_logits, text)
        if simultaneous:
            self._simultaneous_update(loss_d, loss_g)
        else:
            self._update(D, self.opt_d, loss_d)
            D.requires_grad_(False)  # G's step: no gradient for D's weights
            try:
                with self._autocast():
                    fake_features = self._d_features(seen_by_d(fake))
                    loss_g = self._generator_loss(fake_features, self._d_head(fake_features, text), text)
                self._update(self.generator, self.opt_g, loss_g)
            finally:
                D.requires_grad_(True)
        broadcast_buffers(self.generator, self.world)
        update_ema(self.ema, self.generator, p.ema_decay, step)

        # Averaged over ranks, so that every rank logs and judges (the divergence guard) the same numbers.
        scalars = [
            loss_d.detach(),
            loss_g.detach(),
            gp.detach() if gp is not None else torch.zeros((), device=self.device),
            real_logits.detach().float().mean(),
            fake_logits.detach().float().mean(),
        ]
        d, g, gp_value, real_mean, fake_mean = average_scalars(
            torch.stack([value.double() for value in scalars]), self.world
        )
        losses = StepLosses(d=d, g=g, gp=gp_value if gp is not None else None, real=real_mean, fake=fake_mean)
        self._guard(step, losses)
        return losses

    def _generator_loss(self, features: torch.Tensor, logits: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        p = self.params
        loss = g_hinge(logits)
        if p.contrastive_weight > 0:
            scores = self.discriminator.match_scores(features, text)
            pick_own = contrastive(scores, p.contrastive_temperature, symmetric=False)
            loss = loss + p.contrastive_weight * pick_own
        return loss

    def _update(self, model: torch.nn.Module, optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        average_gradients(model, self.world)
        optimizer.step()

    def _simultaneous_update(self, loss_d: torch.Tensor, loss_g: torch.Tensor) -> None:
        """Both players' gradients from the same D: D's from its loss, G's through D's activations only."""
        for model, loss, keep_graph in ((self.discriminator, loss_d, True), (self.generator, loss_g, False)):
            params = [param for param in model.parameters() if param.requires_grad]
            grads = torch.autograd.grad(loss, params, retain_graph=keep_graph, allow_unused=True)
            for param, grad in zip(params, grads, strict=True):
                param.grad = grad
        for model, optimizer in ((self.discriminator, self.opt_d), (self.generator, self.opt_g)):
            average_gradients(model, self.world)
            optimizer.step()

    def _guard(self, step: int, losses: StepLosses) -> None:
        for name, value in (("loss_d", losses.d), ("loss_g", losses.g)):
            if not math.isfinite(value):
                raise TrainingDiverged(f"step {step}: {name} is {value}; training stopped")
            if abs(value) > self.params.max_loss:
                raise TrainingDiverged(
                    f"step {step}: {name}={value:.3g} exceeds train.max_loss={self.params.max_loss:g}; "
                    "training stopped"
                )

    def start_from(self, source: InitialWeights) -> None:
        """Fine-tuning: the source's weights, fresh optimizers (their moments belong to another dataset)."""
        self.generator.load_state_dict(source.generator)
        self.ema.load_state_dict(source.ema)
        if source.discriminator is not None:
            self.discriminator.load_state_dict(source.discriminator)

    def state_dict(self) -> dict[str, Any]:
        return {
            "generator": self.generator.state_dict(),
            "discriminator": self.discriminator.state_dict(),
            "ema": self.ema.state_dict(),
            "opt_g": self.opt_g.state_dict(),
            "opt_d": self.opt_d.state_dict(),
            "torch_rng": torch.get_rng_state(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.generator.load_state_dict(state["generator"])
        self.discriminator.load_state_dict(state["discriminator"])
        self.ema.load_state_dict(state["ema"])
        self.opt_g.load_state_dict(state["opt_g"])
        self.opt_d.load_state_dict(state["opt_d"])
        torch.set_rng_state(state["torch_rng"])
