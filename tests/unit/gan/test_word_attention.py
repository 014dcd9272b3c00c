"""Word attention: it starts as a no-op, padding never matters, the words steer both players once trained,
and a trainer step with words moves the attention of G and D."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from t2igan.config import TrainParams
from t2igan.gan.conditioning import CaptionFeatures, Words
from t2igan.gan.discriminator import Discriminator
from t2igan.gan.generator import Generator
from t2igan.gan.sampling import generate
from t2igan.training.trainer import Trainer
from tests.support.project import tiny_gan

WORD_DIM = 5


def _config(**fields: object) -> object:
    return tiny_gan(word_attention=True, word_dim=WORD_DIM, **fields)


def _words(batch: int, lengths: list[int], seed: int = 0, longest: int | None = None) -> Words:
    generator = torch.Generator().manual_seed(seed)
    longest = longest or max(lengths)
    states = torch.randn(batch, longest, WORD_DIM, generator=generator)
    mask = torch.arange(longest)[None, :] < torch.tensor(lengths)[:, None]
    return Words(states * mask[..., None], mask)


def _moved(module: torch.nn.Module) -> torch.nn.Module:
    """Every weight perturbed, as training would leave it (the zero-initialised outputs included)."""
    torch.manual_seed(1)
    with torch.no_grad():
        for param in module.parameters():
            param.add_(0.05 * torch.randn_like(param))
    return module


def test_a_model_with_word_attention_starts_as_if_it_read_no_words() -> None:
    torch.manual_seed(0)
    config = _config()
    G, D = Generator(config).eval(), Discriminator(config)
    z, text = torch.randn(3, 10), torch.randn(3, 12)
    one, other = _words(3, [4, 2, 3], seed=0), _words(3, [1, 5, 2], seed=1)
    assert torch.equal(G(z, text, one), G(z, text, other))
    images = G(z, text, one)
    assert torch.equal(D(images, text, one), D(images, text, other))
    assert len(G.word_fusion) == 2  # the last two of its levels (16x16: 4->8->16, both)


def test_padding_is_masked_whatever_it_holds_and_the_words_steer_a_trained_model() -> None:
    torch.manual_seed(0)
    config = _config(image_size=32, word_blocks=1)
    G, D = _moved(Generator(config)).eval(), _moved(Discriminator(config))
    z, text = torch.randn(2, 10), torch.randn(2, 12)
    words = _words(2, [3, 2])
    padded_states = torch.cat([words.states, 50 * torch.randn(2, 4, WORD_DIM)], dim=1)  # garbage, masked
    padded = Words(padded_states, torch.cat([words.mask, torch.zeros(2, 4, dtype=torch.bool)], dim=1))
    torch.testing.assert_close(G(z, text, padded), G(z, text, words), rtol=0, atol=1e-6)
    images = G(z, text, words)
    torch.testing.assert_close(D(images, text, padded), D(images, text, words), rtol=0, atol=1e-5)
    changed = Words(words.states.clone(), words.mask)
    changed.states[0, 1, 0] += 1.0  # one real word of the first caption
    assert not torch.allclose(G(z, text, changed)[0], images[0], atol=1e-3)
    torch.testing.assert_close(G(z, text, changed)[1], images[1])  # the other image reads its own words
    assert not torch.allclose(D(images, text, changed)[0], D(images, text, words)[0])
    assert list(G.word_fusion) == ["2"]  # word_blocks=1: the last block only


def test_models_that_read_words_refuse_to_run_without_them() -> None:
    config = _config()
    with pytest.raises(ValueError, match="attends to words"):
        Generator(config)(torch.randn(1, 10), torch.randn(1, 12))
    with pytest.raises(ValueError, match="attends to words"):
        Discriminator(config)(torch.rand(1, 3, 16, 16), torch.randn(1, 12))
    with pytest.raises(ValueError, match="token states"):
        generate(Generator(config).eval(), np.zeros((1, 12), np.float32), [0])


def test_generate_cuts_each_batch_to_its_longest_caption_and_matches_the_single_images() -> None:
    torch.manual_seed(0)
    G = _moved(Generator(_config())).eval()
    states = [
        np.random.default_rng(i).standard_normal((n, WORD_DIM)).astype(np.float16)
        for i, n in enumerate([6, 2, 3])
    ]
    features = CaptionFeatures.from_ragged(np.random.default_rng(9).standard_normal((3, 12)), states)
    assert features.tokens is not None and features.tokens.shape == (3, 6, WORD_DIM)
    together = generate(G, features, [0, 1, 2], batch_size=3)
    alone = np.concatenate([generate(G, features.rows(slice(i, i + 1)), [i]) for i in range(3)])
    assert np.abs(together.astype(int) - alone.astype(int)).max() <= 1  # float rounding of longer sums, at most
    assert features.repeat(2).rows(slice(2, 4)).sentence.tolist() == [features.sentence[1].tolist()] * 2


@pytest.mark.parametrize("updates", ["alternating", "simultaneous"])
def test_a_step_with_words_trains_the_attention_of_both_players_through_ma_gp(updates: str) -> None:
    trainer = Trainer(_config(), TrainParams(gp_every=1, updates=updates), torch.device("cpu"))  # type: ignore[arg-type]
    G, D = trainer.generator, trainer.discriminator
    fusion_before = [p.detach().clone() for p in G.word_fusion.parameters()]
    assert D.word_context is not None
    value_before = D.word_context.value.weight.detach().clone()
    generator = torch.Generator().manual_seed(0)
    images, text = (
        torch.rand(4, 3, 16, 16, generator=generator) * 2 - 1,
        torch.randn(4, 12, generator=generator),
    )
    for step in range(2):
        losses = trainer.step(step, images, text, _words(4, [3, 1, 4, 2]))
        assert losses.gp is not None and np.isfinite(losses.d) and np.isfinite(losses.g)
    assert any(not torch.equal(a, b) for a, b in zip(fusion_before, G.word_fusion.parameters(), strict=True))
    assert not torch.equal(value_before, D.word_context.value.weight)
    with pytest.raises(Exception, match="token states"):
        trainer.step(2, images, text)
