"""The training step: deterministic, both update schedules, lazy MA-GP, guards, and how it runs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import torch

from t2igan.config import ModelParams, TrainParams
from t2igan.errors import ConfigError, TrainingDiverged
from t2igan.gan.conditioning import normalize_text
from t2igan.gan.export import load_generator, save_generator
from t2igan.gan.generator import Generator
from t2igan.training.trainer import Acceleration, LazyPenalty, Trainer
from tests.support.project import REPO, tiny_gan
from tests.support.tiny_vision import KINDS as TINY_VISION_KINDS


def _trainer(seed: int = 0, **params: object) -> Trainer:
    return Trainer(tiny_gan(), TrainParams(seed=seed, gp_every=2, **params), torch.device("cpu"))  # type: ignore[arg-type]


def _batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(4, 3, 16, 16, generator=generator) * 2 - 1, torch.randn(4, 12, generator=generator)


@pytest.mark.parametrize("norm", ["batch", "group", "none"])
def test_a_whole_step_runs_for_every_normalisation(norm: str) -> None:
    trainer = Trainer(tiny_gan(g_norm=norm), TrainParams(gp_every=1), torch.device("cpu"))
    losses = trainer.step(0, *_batch())
    assert losses.gp is not None and losses.gp > 0 and losses.d > 0


def test_training_steps_are_deterministic_and_move_the_weights() -> None:
    images, text = _batch()
    a, b = _trainer(), _trainer()
    before = [p.clone() for p in a.generator.parameters()]
    for step in range(3):
        la, lb = a.step(step, images, text), b.step(step, images, text)
        assert la == lb
    for pa, pb in zip(a.generator.parameters(), b.generator.parameters(), strict=True):
        assert torch.equal(pa, pb)
    assert any(not torch.equal(p, q) for p, q in zip(before, a.generator.parameters(), strict=True))
    assert a.step(3, images, text).gp is None and a.step(4, images, text).gp is not None  # lazy: every 2nd
    # The EMA copy trails the generator.
    assert any(not torch.equal(p, q) for p, q in zip(a.ema.parameters(), a.generator.parameters(), strict=True))


def test_the_lazy_penalty_is_due_every_interval_with_its_weight_scaled() -> None:
    penalty = LazyPenalty.from_params(TrainParams(gp_every=4, ma_gp_weight=2.0))
    assert penalty is not None and penalty.applied_weight == 8.0
    assert [step for step in range(9) if penalty.due(step)] == [0, 4, 8]
    assert LazyPenalty.from_params(TrainParams(gp_every=0)) is None
    assert LazyPenalty.from_params(TrainParams(ma_gp_weight=0.0)) is None


@pytest.mark.slow  # inductor compiles G and D: about a minute on 2 cores
def test_compiled_training_steps_match_eager_ones() -> None:
    """train.compile changes how the step runs, not what it computes, for either update schedule.

    Compiled graphs are shared by every instance of a module class in a process, so the simultaneous trainer
    runs the graphs the alternating one compiled, and backpropagates twice through D's (which compiled
    backwards refuse unless they keep their buffers: the bench's failure this guards). At 8x8 (one block
    each way, every kind of layer still in it): the compiler's time grows with the blocks, not the test."""
    torch.manual_seed(0)
    generator = torch.Generator().manual_seed(0)
    images, text = torch.rand(4, 3, 8, 8, generator=generator) * 2 - 1, torch.randn(4, 12, generator=generator)
    schedules = ("alternating", "simultaneous")
    runs = {}
    for updates in schedules:
        for compiled in (False, True):
            params = TrainParams(gp_every=2, updates=updates, compile=compiled)
            trainer = Trainer(tiny_gan(image_size=8), params, torch.device("cpu"))
            runs[updates, compiled] = [trainer.step(step, images, text) for step in range(3)]  # MA-GP on 0, 2
    # Step 0 runs the initial weights: the same up to float rounding. Steps 1 and 2 see the weights both runs'
    # updates made: looser (measured up to 2e-4) but far below the ~10% the losses move in a step. Adam's first
    # steps turn rounding differences in near-zero gradients into whole steps, so weights are not compared.
    for updates in schedules:
        for step, (eager, compiled) in enumerate(zip(runs[updates, False], runs[updates, True], strict=True)):
            tolerance = 1e-4 if step == 0 else 2e-3
            assert compiled.d == pytest.approx(eager.d, rel=tolerance)
            assert compiled.g == pytest.approx(eager.g, rel=tolerance)


COMPILED_TRAINER = """
from t2igan.config import TrainParams
from t2igan.training.trainer import Trainer
from tests.support.project import REPO, tiny_gan
import torch

trainer = Trainer(tiny_gan(), TrainParams(compile=True), torch.device("cpu"))
print(type(trainer._g).__name__)
"""


def test_a_compiled_trainer_is_built_in_a_fresh_process() -> None:
    # `t2igan train` with train.compile: true starts from nothing imported but what the trainer imports
    # (the test process has imported much more): what the trainer's set-up touches must be imported by it.
    done = subprocess.run(
        [sys.executable, "-c", COMPILED_TRAINER], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "OptimizedModule"


def test_simultaneous_updates_take_g_s_gradient_from_the_same_d_pass() -> None:
    """With a D that does not move (lr_d ~ 0) the two schedules give G and D the same gradients; the
    simultaneous one runs D over the images one time fewer (real, fakes: 2 passes instead of 3)."""
    images, text = _batch()
    trainers = {mode: _trainer(updates=mode, lr_d=1e-12) for mode in ("alternating", "simultaneous")}
    passes = {}
    for mode, trainer in trainers.items():
        calls: list[int] = []
        trainer.discriminator.from_rgb.register_forward_hook(lambda *args, calls=calls: calls.append(1))
        trainer.step(1, images, text)  # step 1: no gradient penalty (gp_every=2)
        passes[mode] = len(calls)
    assert passes == {"alternating": 3, "simultaneous": 2}
    alternating, simultaneous = trainers["alternating"], trainers["simultaneous"]
    for a, b in (
        (alternating.generator, simultaneous.generator),
        (alternating.discriminator, simultaneous.discriminator),
    ):
        for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
            assert (pa.grad is None) == (pb.grad is None)
            if pa.grad is not None:
                assert torch.allclose(pa.grad, pb.grad, rtol=1e-4, atol=1e-6)
    # With a D that learns, G's gradient comes from D before its step, so the two differ.
    learning = {mode: _trainer(updates=mode) for mode in ("alternating", "simultaneous")}
    for trainer in learning.values():
        trainer.step(1, images, text)
    G_pairs = zip(
        learning["alternating"].generator.parameters(),
        learning["simultaneous"].generator.parameters(),
        strict=True,
    )
    assert any(not torch.allclose(a, b) for a, b in G_pairs)


def test_contrastive_training_teaches_d_to_pick_each_images_caption() -> None:
    """Four flat-coloured images, four orthogonal sentences: after a few dozen steps each image's best match
    among the sentences is its own (an untrained head's is not); the term also moves G."""
    colors = torch.tensor([[1.0, -1, -1], [-1, 1, -1], [-1, -1, 1], [1, 1, -1]])
    images = colors[:, :, None, None].expand(4, 3, 16, 16).contiguous()
    text = torch.eye(4, 12) * 3

    def trainer(weight: float) -> Trainer:
        model = ModelParams(contrastive_dim=8)
        params = TrainParams(seed=0, gp_every=0, contrastive_weight=weight, lr_d=0.002, model=model)
        return Trainer(tiny_gan(d_projection=False, text_in_seed=False), params, torch.device("cpu"))

    def best_matches(trainer: Trainer) -> torch.Tensor:
        D = trainer.discriminator
        with torch.no_grad():
            return D.match_scores(D.features(images), normalize_text(text)).argmax(dim=1)

    with_term, without = trainer(1.0), trainer(0.0)
    with_term.step(0, images, text)
    without.step(0, images, text)
    G_pairs = zip(with_term.generator.parameters(), without.generator.parameters(), strict=True)
    assert any(not torch.equal(a, b) for a, b in G_pairs)
    for step in range(1, 40):
        with_term.step(step, images, text)
        without.step(step, images, text)
    assert torch.equal(best_matches(with_term), torch.arange(4))
    assert not torch.equal(best_matches(without), torch.arange(4))


def test_the_mode_seeking_term_makes_two_noises_give_two_images() -> None:
    """Same data, same seeds: with the term, G's images of one caption under two noises end further apart
    than without it; the term's off state is the default step, bit for bit."""
    images, text = _batch()
    noises = torch.randn(2, tiny_gan().z_dim, generator=torch.Generator().manual_seed(7))

    def spread(weight: float) -> float:
        trainer = _trainer(mode_seeking_weight=weight, mode_seeking_pairs=2)
        for step in range(30):
            trainer.step(step, images, text)
        with torch.no_grad():
            trainer.generator.eval()
            pair = trainer.generator(noises, text[:1].expand(2, -1))
        return float((pair[0] - pair[1]).abs().mean())

    assert spread(1.0) > 1.5 * spread(0.0)
    off, default = _trainer(mode_seeking_weight=0.0), _trainer()
    assert off.step(0, images, text) == default.step(0, images, text)


def test_a_contrastive_weight_without_the_head_is_refused() -> None:
    headless = tiny_gan(contrastive_dim=0)
    with pytest.raises(ConfigError, match="contrastive head"):
        Trainer(headless, TrainParams(), torch.device("cpu"))
    assert Trainer(headless, TrainParams(contrastive_weight=0.0), torch.device("cpu")).step(0, *_batch()).d > 0


def test_nan_loss_stops_training() -> None:
    trainer = _trainer()
    with pytest.raises(TrainingDiverged, match="step 0: loss_d is nan"):
        trainer.step(0, torch.full((4, 3, 16, 16), float("nan")), torch.randn(4, 12))


def test_an_exploding_loss_stops_training() -> None:
    trainer = _trainer(max_loss=1e-3)
    with pytest.raises(TrainingDiverged, match=r"exceeds train\.max_loss=0\.001"):
        trainer.step(0, *_batch())


def test_training_with_augmentation_stays_deterministic() -> None:
    images, text = _batch()
    policy = {"augment": ["color", "translation", "cutout"]}
    a, b, plain = _trainer(**policy), _trainer(**policy), _trainer()
    for step in range(2):
        assert a.step(step, images, text) == b.step(step, images, text)
    plain.step(0, images, text), plain.step(1, images, text)
    assert any(
        not torch.equal(p, q)
        for p, q in zip(a.generator.parameters(), plain.generator.parameters(), strict=True)
    )


def test_channels_last_changes_the_layout_not_the_result() -> None:
    images, text = _batch()
    nhwc, nchw = _trainer(channels_last=True), _trainer(channels_last=False)
    conv = nhwc.generator.blocks[0].conv1.weight
    assert conv.is_contiguous(memory_format=torch.channels_last) and not conv.is_contiguous()
    # From the same initial weights, D's loss and the gradient penalty of the first step agree; everything
    # after an update differs by rounding, which Adam (beta1 = 0) amplifies to ~lr per weight.
    a, b = nhwc.step(0, images, text), nchw.step(0, images, text)
    assert a.d == pytest.approx(b.d, rel=1e-5) and a.gp == pytest.approx(b.gp, rel=1e-4)
    # Same weights, either layout: the same images.
    nhwc.ema.load_state_dict(nchw.ema.state_dict())
    z = torch.randn(4, 10)
    assert torch.allclose(nhwc.ema(z, text), nchw.ema(z, text), atol=1e-5)


def test_precision_auto_is_float32_on_cpu_and_bfloat16_when_asked() -> None:
    cpu = torch.device("cpu")
    assert Acceleration.resolve(TrainParams(), cpu).autocast is None
    assert Acceleration.resolve(TrainParams(), torch.device("cuda")).autocast is torch.bfloat16
    assert Acceleration.resolve(TrainParams(precision="bfloat16"), cpu).autocast is torch.bfloat16
    images, text = _batch()
    bf16, fp32 = _trainer(precision="bfloat16"), _trainer()
    seen: list[torch.dtype] = []
    bf16.generator.blocks[0].conv2.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    low, full = bf16.step(0, images, text), fp32.step(0, images, text)
    assert seen and set(seen) == {torch.bfloat16}  # the convolutions ran in bfloat16
    assert all(p.dtype is torch.float32 for p in bf16.generator.parameters())  # the weights stay float32
    assert low.d == pytest.approx(full.d, rel=0.02) and low.g == pytest.approx(full.g, rel=0.05)


def test_learning_rates_are_the_optimizers_own() -> None:
    assert _trainer(lr_g=1e-4, lr_d=3e-4).learning_rates() == {"lr_g": 1e-4, "lr_d": 3e-4}


@pytest.mark.parametrize("kind", ["inception", *TINY_VISION_KINDS])
def test_d_trains_through_a_frozen_backbone_and_leaves_it_unchanged(
    kind: str, tiny_vision_models: dict[str, Path], tmp_path: Path
) -> None:
    """A few steps with each family's tiny random model (the real Inception at its smallest size): D's heads
    and G learn, the backbone's weights stay bit-identical and out of the checkpoint, the penalty is taken on
    its maps; the served generator is the same kind of module as without a backbone."""
    source = "inception" if kind == "inception" else str(tiny_vision_models[kind])
    resolution = 75 if kind == "inception" else 32
    gan = tiny_gan(d_backbone=source, d_backbone_resolution=resolution)
    trainer = Trainer(gan, TrainParams(seed=0, gp_every=2), torch.device("cpu"))
    backbone = trainer.discriminator.backbone
    assert backbone is not None
    frozen = {name: tensor.clone() for name, tensor in backbone.state_dict().items()}
    heads = [p.clone() for p in trainer.discriminator.parameters()]
    g_before = [p.clone() for p in trainer.generator.parameters()]
    images, text = _batch()
    losses = [trainer.step(step, images, text) for step in range(3)]
    assert losses[0].gp is not None and losses[0].gp > 0 and losses[1].gp is None
    assert all(torch.equal(frozen[name], tensor) for name, tensor in backbone.state_dict().items())
    assert not backbone.training
    moved = zip(heads, trainer.discriminator.parameters(), strict=True)
    assert any(not torch.equal(a, b) for a, b in moved)
    assert any(not torch.equal(a, b) for a, b in zip(g_before, trainer.generator.parameters(), strict=True))
    # The checkpoint holds D's heads only; the served model is the generator alone, as without a backbone.
    state = trainer.state_dict()
    assert not any(key.startswith(("backbone", "model.")) for key in state["discriminator"])
    plain = Trainer(tiny_gan(), TrainParams(seed=0, gp_every=2), torch.device("cpu"))
    assert trainer.generator.state_dict().keys() == plain.generator.state_dict().keys()
    save_generator(trainer.ema, tmp_path / "model", {})
    served, _ = load_generator(tmp_path / "model")
    assert isinstance(served, Generator)
    assert all(
        torch.equal(a, b)
        for a, b in zip(served.state_dict().values(), trainer.ema.state_dict().values(), strict=True)
    )
