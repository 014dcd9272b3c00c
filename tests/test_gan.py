"""The DF-GAN-family model: shapes, conditioning, losses, MA-GP, and a deterministic training step."""

from __future__ import annotations

import pytest
import torch

from t2igan.config import ModelParams, TrainParams
from t2igan.gan.config import GANConfig, normalize_text, widths
from t2igan.gan.discriminator import Discriminator
from t2igan.gan.generator import Generator
from t2igan.gan.losses import contrastive, d_hinge, g_hinge, matching_aware_gp
from t2igan.gan.sampling import generate, image_grid, noise_for_seeds
from t2igan.training.trainer import Trainer

# What params.yaml turns on beyond GANConfig's defaults (those stay the original DF-GAN, for old exports).
DEFAULTS = {"d_projection": True, "text_in_seed": True, "contrastive_dim": 8}


@pytest.mark.parametrize("size", [16, 32, 64])
def test_generator_and_discriminator_shapes(size: int) -> None:
    config = GANConfig(image_size=size, text_dim=12, nf=8, d_nf=8, z_dim=10, cond_dim=6)
    G, D = Generator(config), Discriminator(config)
    images = G(torch.randn(3, 10), torch.randn(3, 12))
    assert images.shape == (3, 3, size, size)
    assert images.min() >= -1 and images.max() <= 1
    assert D.features(images).shape[2:] == (4, 4)
    assert D(images, torch.randn(3, 12)).shape == (3,)


@pytest.mark.parametrize("norm", ["batch", "group", "none"])
def test_every_normalisation_choice_builds_and_runs(norm: str) -> None:
    config = GANConfig(image_size=16, text_dim=12, nf=8, d_nf=8, z_dim=10, cond_dim=6, g_norm=norm, **DEFAULTS)
    assert Generator(config)(torch.randn(2, 10), torch.randn(2, 12)).shape == (2, 3, 16, 16)
    trainer = Trainer(config, TrainParams(gp_every=1), torch.device("cpu"))  # a whole step, EMA included
    losses = trainer.step(0, torch.rand(4, 3, 16, 16) * 2 - 1, torch.randn(4, 12))
    assert losses.gp is not None and losses.d > 0


def test_widths_follow_the_df_gan_schedule() -> None:
    assert widths(32, 4) == [256, 256, 128, 64, 32]
    assert widths(32, 6) == [256, 256, 256, 256, 128, 64, 32]


def test_generator_output_depends_on_the_sentence() -> None:
    torch.manual_seed(0)
    config = GANConfig(image_size=16, text_dim=12, nf=8, d_nf=8, z_dim=10, cond_dim=6)
    G = Generator(config)
    for p in G.parameters():  # move the affine layers off their identity initialisation
        p.data.add_(0.05 * torch.randn_like(p))
    z = torch.randn(1, 10)
    assert not torch.allclose(G(z, torch.randn(1, 12)), G(z, torch.randn(1, 12)))


def test_the_seed_map_carries_the_sentence_only_when_asked() -> None:
    """The fusion affines start as the identity, so at initialisation only the seed map can carry the text."""
    z, text_a, text_b = torch.randn(2, 10), torch.randn(2, 12), torch.randn(2, 12)
    for text_in_seed in (False, True):
        torch.manual_seed(0)
        config = GANConfig(image_size=16, text_dim=12, nf=8, z_dim=10, cond_dim=6, text_in_seed=text_in_seed)
        G = Generator(config).eval()
        assert G.fc.in_features == (16 if text_in_seed else 10)
        assert torch.equal(G(z, text_a), G(z, text_b)) is not text_in_seed


def test_contrastive_loss_values() -> None:
    assert contrastive(torch.zeros(4, 4), 0.1, symmetric=True).item() == pytest.approx(
        torch.log(torch.tensor(4.0))
    )
    confident = torch.eye(4) * 2 - 1  # cosine 1 with the own caption, -1 with the others
    assert contrastive(confident, 0.1, symmetric=False).item() < 1e-7
    # Rows are images: an image that prefers another caption is penalised, whichever direction is asked.
    swapped = confident[[1, 0, 2, 3]]
    assert contrastive(swapped, 0.1, symmetric=False).item() > 9.0
    assert contrastive(swapped, 0.1, symmetric=True).item() > 9.0


def test_match_scores_are_cosines_between_every_image_and_every_sentence() -> None:
    torch.manual_seed(0)
    config = GANConfig(image_size=16, text_dim=12, nf=8, d_nf=8, z_dim=10, cond_dim=6, contrastive_dim=5)
    D = Discriminator(config)
    features, text = D.features(torch.randn(3, 3, 16, 16)), torch.randn(4, 12)
    scores = D.match_scores(features, text)
    assert scores.shape == (3, 4) and scores.abs().max() <= 1 + 1e-6
    assert torch.allclose(scores[1:, 2:], D.match_scores(features[1:], text[2:]))
    with pytest.raises(ValueError, match="no contrastive head"):
        Discriminator(GANConfig(image_size=16, text_dim=12, nf=8, d_nf=8)).match_scores(features, text)


def test_contrastive_training_teaches_d_to_pick_each_images_caption() -> None:
    """Four flat-coloured images, four orthogonal sentences: after a few dozen steps each image's best match
    among the sentences is its own (an untrained head's is not); the term also moves G."""
    colors = torch.tensor([[1.0, -1, -1], [-1, 1, -1], [-1, -1, 1], [1, 1, -1]])
    images = colors[:, :, None, None].expand(4, 3, 16, 16).contiguous()
    text = torch.eye(4, 12) * 3

    def trainer(weight: float) -> Trainer:
        config = GANConfig(image_size=16, text_dim=12, nf=8, d_nf=8, z_dim=10, cond_dim=6, contrastive_dim=8)
        model = ModelParams(contrastive_dim=8)
        params = TrainParams(seed=0, gp_every=0, contrastive_weight=weight, lr_d=0.002, model=model)
        return Trainer(config, params, torch.device("cpu"))

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


def test_a_contrastive_weight_without_the_head_is_refused() -> None:
    from t2igan.errors import ConfigError

    config = GANConfig(image_size=16, text_dim=12, nf=8, d_nf=8, z_dim=10, cond_dim=6)
    with pytest.raises(ConfigError, match="contrastive head"):
        Trainer(config, TrainParams(), torch.device("cpu"))
    Trainer(config, TrainParams(contrastive_weight=0.0), torch.device("cpu"))


def test_hinge_losses() -> None:
    assert d_hinge(torch.tensor([2.0]), torch.tensor([-2.0]), torch.tensor([-3.0])).item() == 0.0
    assert d_hinge(torch.tensor([0.0]), torch.tensor([0.0]), torch.tensor([0.0])).item() == 2.0
    assert g_hinge(torch.tensor([1.0, 3.0])).item() == -2.0


def test_ma_gp_matches_its_definition() -> None:
    torch.manual_seed(0)
    config = GANConfig(image_size=16, text_dim=5, nf=4, d_nf=4, z_dim=3, cond_dim=3)
    D = Discriminator(config)
    images, text = torch.randn(4, 3, 16, 16), torch.randn(4, 5)
    penalty, _, logits = matching_aware_gp(D, images, text, weight=2.0, power=6.0)
    expected = []
    for i in range(4):
        x, s = images[i : i + 1].clone().requires_grad_(), text[i : i + 1].clone().requires_grad_()
        gx, gs = torch.autograd.grad(D(x, s).sum(), (x, s))
        expected.append(torch.cat([gx.flatten(), gs.flatten()]).norm() ** 6)
    assert torch.allclose(penalty, 2.0 * torch.stack(expected).mean(), rtol=1e-4)
    assert torch.allclose(logits, D(images, text), atol=1e-6)
    penalty.backward()  # differentiable w.r.t. D's weights
    assert D.from_rgb.weight.grad is not None


def _trainer(seed: int = 0, **params: object) -> Trainer:
    config = GANConfig(image_size=16, text_dim=12, nf=8, d_nf=8, z_dim=10, cond_dim=6, **DEFAULTS)
    return Trainer(config, TrainParams(seed=seed, gp_every=2, **params), torch.device("cpu"))


def test_training_steps_are_deterministic_and_move_the_weights() -> None:
    images, text = torch.rand(4, 3, 16, 16) * 2 - 1, torch.randn(4, 12)
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


@pytest.mark.slow  # inductor compiles G and D: about a minute on 2 cores
def test_compiled_training_steps_match_eager_ones() -> None:
    """train.compile changes how the step runs, not what it computes, for either update schedule.

    Compiled graphs are shared by every instance of a module class in a process, so the simultaneous trainer
    runs the graphs the alternating one compiled, and backpropagates twice through D's (which compiled
    backwards refuse unless they keep their buffers: the bench's failure this guards)."""
    config = GANConfig(image_size=16, text_dim=12, nf=8, d_nf=8, z_dim=10, cond_dim=6, **DEFAULTS)
    torch.manual_seed(0)
    images, text = torch.rand(4, 3, 16, 16) * 2 - 1, torch.randn(4, 12)
    schedules = ("alternating", "simultaneous")
    runs = {}
    for updates in schedules:
        for compiled in (False, True):
            params = TrainParams(gp_every=2, updates=updates, compile=compiled)
            trainer = Trainer(config, params, torch.device("cpu"))
            runs[updates, compiled] = [trainer.step(step, images, text) for step in range(3)]  # MA-GP on 0, 2
    # Step 0 runs the initial weights: the same up to float rounding. Steps 1 and 2 see the weights both runs'
    # updates made: looser (measured up to 2e-4) but far below the ~10% the losses move in a step. Adam's first
    # steps turn rounding differences in near-zero gradients into whole steps, so weights are not compared.
    for updates in schedules:
        for step, (eager, compiled) in enumerate(zip(runs[updates, False], runs[updates, True], strict=True)):
            tolerance = 1e-4 if step == 0 else 2e-3
            assert compiled.d == pytest.approx(eager.d, rel=tolerance)
            assert compiled.g == pytest.approx(eager.g, rel=tolerance)


def test_simultaneous_updates_take_g_s_gradient_from_the_same_d_pass() -> None:
    """With a D that does not move (lr_d ~ 0) the two schedules give G and D the same gradients; the
    simultaneous one runs D over the images one time fewer (real, fakes: 2 passes instead of 3)."""
    images, text = torch.rand(4, 3, 16, 16) * 2 - 1, torch.randn(4, 12)
    trainers = {mode: _trainer(updates=mode, lr_d=1e-12) for mode in ("alternating", "simultaneous")}
    passes = {}
    for mode, trainer in trainers.items():
        calls = []
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


def test_nan_loss_stops_training() -> None:
    from t2igan.errors import TrainingDiverged

    trainer = _trainer()
    with pytest.raises(TrainingDiverged, match="step 0: loss_d is nan"):
        trainer.step(0, torch.full((4, 3, 16, 16), float("nan")), torch.randn(4, 12))


def test_sampling_depends_on_seed_not_batch() -> None:
    config = GANConfig(image_size=16, text_dim=12, nf=8, d_nf=8, z_dim=10, cond_dim=6)
    G = Generator(config).eval()
    text = torch.randn(3, 12)
    together = generate(G, text, [5, 6, 7])
    alone = generate(G, text[1:2], [6])
    assert together.dtype.name == "uint8" and together.shape == (3, 16, 16, 3)
    assert (together[1] == alone[0]).all()
    assert torch.equal(noise_for_seeds([1], 10), noise_for_seeds([1], 10))
    with pytest.raises(ValueError, match="eval mode"):
        generate(G.train(), text, [1, 2, 3])
    grid = image_grid(together, columns=2)
    assert grid.size == (2 * 18 + 2, 2 * 18 + 2)


def test_diff_augment_is_differentiable_seeded_and_does_what_it_says() -> None:
    from t2igan.gan.augment import diff_augment

    x = (torch.rand(6, 3, 16, 16) * 2 - 1).requires_grad_(True)
    same = [diff_augment(x, ["color", "translation", "cutout"], torch.Generator().manual_seed(5)) for _ in "ab"]
    assert torch.equal(same[0], same[1]) and same[0].shape == x.shape
    same[0].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # gradients reach the images
    assert torch.equal(diff_augment(x, [], torch.Generator()), x)

    ones = torch.ones(64, 3, 16, 16)
    cut = diff_augment(ones, ["cutout"], torch.Generator().manual_seed(0))
    zeroed = (cut == 0).all(dim=1).sum(dim=(1, 2)).float()
    assert zeroed.max() <= 64 and zeroed.mean() > 20  # an 8x8 square, clipped at the borders
    shifted = diff_augment(ones, ["translation"], torch.Generator().manual_seed(0))
    rows_lost = (shifted == 0).all(dim=(1, 3)).sum(dim=1)  # zero rows shifted in from the border
    assert rows_lost.max() <= 2 and rows_lost.sum() > 0  # at most 1/8 of 16


def test_training_with_augmentation_stays_deterministic() -> None:
    images, text = torch.rand(4, 3, 16, 16) * 2 - 1, torch.randn(4, 12)
    policy = {"augment": ["color", "translation", "cutout"]}
    a, b, plain = _trainer(**policy), _trainer(**policy), _trainer()
    for step in range(2):
        assert a.step(step, images, text) == b.step(step, images, text)
    plain.step(0, images, text), plain.step(1, images, text)
    assert any(
        not torch.equal(p, q)
        for p, q in zip(a.generator.parameters(), plain.generator.parameters(), strict=True)
    )


def test_truncation_bounds_the_noise_and_keeps_images_a_function_of_the_seed() -> None:
    plain = noise_for_seeds([3, 4], 500)
    assert torch.equal(plain[0], torch.randn(500, generator=torch.Generator().manual_seed(3)))  # None = off
    truncated = noise_for_seeds([3, 4], 500, truncation=0.5)
    assert truncated.abs().max() <= 0.5 and torch.equal(truncated, noise_for_seeds([3, 4], 500, 0.5))
    inside = plain.abs() <= 0.5  # components already within the bound are kept, the rest redrawn
    assert torch.equal(truncated[inside], plain[inside]) and not torch.equal(truncated, plain)
    with pytest.raises(ValueError, match="positive"):
        noise_for_seeds([1], 10, truncation=0.0)
    config = GANConfig(image_size=16, text_dim=12, nf=8, d_nf=8, z_dim=10, cond_dim=6)
    G = Generator(config).eval()
    text = torch.randn(2, 12)
    assert (generate(G, text, [1, 2], truncation=0.3)[1] == generate(G, text[1:], [2], truncation=0.3)[0]).all()


def test_channels_last_changes_the_layout_not_the_result() -> None:
    images, text = torch.rand(4, 3, 16, 16) * 2 - 1, torch.randn(4, 12)
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
    from t2igan.training.trainer import Acceleration

    cpu = torch.device("cpu")
    assert Acceleration.resolve(TrainParams(), cpu).autocast is None
    assert Acceleration.resolve(TrainParams(), torch.device("cuda")).autocast is torch.bfloat16
    assert Acceleration.resolve(TrainParams(precision="bfloat16"), cpu).autocast is torch.bfloat16
    trainer = _trainer(precision="bfloat16")
    losses = trainer.step(0, torch.rand(4, 3, 16, 16) * 2 - 1, torch.randn(4, 12))  # runs, finite
    assert all(
        param.dtype is torch.float32 for param in trainer.generator.parameters()
    )  # autocast, fp32 weights
    assert losses.d == losses.d and losses.g == losses.g


def test_projection_head_adds_a_sentence_match_score() -> None:
    config = GANConfig(
        image_size=16, text_dim=12, nf=8, d_nf=8, z_dim=10, cond_dim=6, d_projection=True, contrastive_dim=4
    )
    D = Discriminator(config)
    images, text = torch.rand(3, 3, 16, 16) * 2 - 1, torch.randn(3, 12)
    torch.nn.init.normal_(D.projection.weight)  # it starts at zero: make the term count
    features = D.features(images)
    joint = D.joint(
        torch.cat([features, D.text_proj(text)[:, :, None, None].expand(-1, -1, 4, 4)], 1)
    ).flatten()
    expected = joint + (D.projection(text) * torch.nn.functional.leaky_relu(features, 0.2).mean((2, 3))).sum(1)
    assert torch.allclose(D(images, text), expected, atol=1e-5)
    assert Discriminator(GANConfig(image_size=16, text_dim=12, nf=8, d_nf=8)).projection is None  # default off
    trainer = Trainer(config, TrainParams(gp_every=1), torch.device("cpu"))
    assert trainer.step(0, images, text).gp is not None
    assert trainer.discriminator.projection.weight.abs().sum() > 0  # and it learns
