"""GANConfig: params.yaml's model fields plus what the data fixes; stored configs read as they were meant."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from t2igan.config import ModelParams
from t2igan.gan.architecture import SAVED_BEFORE_THE_FIELD, GANConfig, widths


def test_a_config_is_the_model_params_plus_the_data_s_sizes() -> None:
    model = ModelParams(nf=16, g_norm="group")
    config = GANConfig.build(model, image_size=32, text_dim=384)
    assert config.model_dump(exclude={"image_size", "text_dim", "word_dim"}) == model.model_dump()
    assert (config.image_size, config.text_dim, config.word_dim, config.levels) == (32, 384, 0, 3)
    assert GANConfig.from_dict(config.to_dict()) == config
    words = GANConfig.build(ModelParams(word_attention=True), image_size=32, text_dim=384, word_dim=256)
    assert GANConfig.from_dict(words.to_dict()) == words and words.word_dim == 256
    with pytest.raises(ValidationError, match="word_dim"):  # attention to words of no width
        GANConfig.build(ModelParams(word_attention=True), image_size=32, text_dim=384)


def test_a_config_saved_before_a_field_existed_keeps_its_old_meaning() -> None:
    old = {"image_size": 32, "text_dim": 384, "nf": 32, "d_nf": 32, "z_dim": 100, "cond_dim": 128}
    config = GANConfig.from_dict({**old, "long_gone_field": 1})  # unknown stored keys are ignored
    assert {key: getattr(config, key) for key in SAVED_BEFORE_THE_FIELD} == SAVED_BEFORE_THE_FIELD
    assert config.d_projection is False and ModelParams().d_projection is True  # the new default differs


def test_image_size_must_be_a_power_of_two_and_the_config_is_strict() -> None:
    with pytest.raises(ValidationError, match="power of two"):
        GANConfig(image_size=24, text_dim=8)
    with pytest.raises(ValidationError, match="Extra inputs"):
        GANConfig(image_size=16, text_dim=8, width=3)


def test_widths_follow_the_df_gan_schedule() -> None:
    assert widths(32, 4) == [256, 256, 128, 64, 32]
    assert widths(32, 6) == [256, 256, 256, 256, 128, 64, 32]
