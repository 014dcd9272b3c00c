"""R-precision: the retrieval encoder finds real captions and falls to chance for shuffled ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from t2igan.config import parse_params
from t2igan.data.manifest import read_manifest
from t2igan.data.store import open_store
from t2igan.metrics.rprecision import r_precision, train_retrieval_encoder
from t2igan.text.embeddings import load_embeddings
from tests.support.project import tiny_params_dict
from tests.support.templates import ProjectTemplates


@pytest.mark.slow
def test_r_precision_encoder_retrieves_real_captions_and_not_shuffled_ones(
    tmp_path: Path, templates: ProjectTemplates
) -> None:
    """Trained against the frozen caption embeddings, the encoder ranks an image's own caption first far
    more often than chance; pairing images with other images' captions falls back to chance."""
    raw = tiny_params_dict(data={"synthetic": {"num_train": 600, "num_test": 120}})
    params = parse_params(raw)
    project = templates.project(tmp_path / "project", raw, "ingest", "validate", "embed")
    manifest = read_manifest(project.clean_manifest).reset_index(drop=True)
    store = open_store(project.image_store)
    text = load_embeddings(project.embeddings_dir, expected_rows=len(manifest)).vectors
    train = manifest[manifest["split"] == "train"]
    test = manifest[manifest["split"] == "test"].drop_duplicates("store_index")
    images, owner = np.unique(train["store_index"].to_numpy(), return_inverse=True)
    cfg = params.evaluate.retrieval.model_copy(update={"epochs": 8, "width": 16})
    encoder = train_retrieval_encoder(store[images], owner, text[train.index.to_numpy()], cfg)
    vectors = encoder.embed(store[test["store_index"].to_numpy()])
    candidates = 20
    kwargs = dict(
        caption_image=test["store_index"].to_numpy(),
        text=text[test.index.to_numpy()],
        candidates=candidates,
        rounds=3,
        seed=0,
    )
    own = np.arange(len(test))
    score, _ = r_precision(vectors, own, image_id=test["store_index"].to_numpy(), **kwargs)
    shuffled = np.random.default_rng(1).permutation(len(test))
    chance, _ = r_precision(vectors[shuffled], own, image_id=test["store_index"].to_numpy()[shuffled], **kwargs)
    assert score > 4 / candidates
    assert chance < 2.5 / candidates
