"""Each language-model family end to end: embed, train a few steps, register, load in a fresh process.

The models are tiny random ones built here (tests/support/tiny_lms.py), so nothing is downloaded; what is
checked is the plumbing each family needs: its vectors' width reaching the GAN's projection, its encoder files
travelling with the registered model, and the served model computing the very vectors training used.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from t2igan.config import parse_params
from t2igan.io import read_json
from t2igan.paths import ProjectPaths
from t2igan.text.embeddings import EMBEDDINGS_FILE
from tests.support.png import decode_png
from tests.support.project import reset_mlflow, run_stages, tiny_params_dict, tool_env, write_project
from tests.support.services import model_server, post_invocations
from tests.support.tiny_lms import PROJECTION, WIDTH, build

pytestmark = pytest.mark.slow

FRESH_PROCESS = """
import json, sys
import mlflow, pandas as pd
model = mlflow.pyfunc.load_model("models:/t2igan@champion")
captions = json.loads(sys.argv[1])
out = model.predict(pd.DataFrame({"caption": captions, "seed": [3] * len(captions)}))
vectors = model.unwrap_python_model().encoder.encode(captions)
print(json.dumps({"images": out["image"].tolist(), "vectors": vectors.tolist()}))
"""
# CLIP's model also attends to words (its token states are the tower's width, not the projection's): one
# project shows both, and the served test below runs it under `mlflow models serve`.
WIDTHS = {"gpt2": WIDTH, "qwen2": WIDTH, "t5": WIDTH, "clip+words": PROJECTION, "siglip": WIDTH}


WORDS = {"embed": {"token_states": True}, "train": {"model": {"word_attention": True}}}


# A few steps and a small evaluation: what is tested is each family's plumbing, not the model's quality.
FEW = {"train": {"steps": 4}, "evaluate": {"fid_samples": 12, "alignment_samples": 12, "grid_captions": 2}}


def _trained(root: Path, encoder: Path, data: Path | None, *layers: dict[str, Any]) -> ProjectPaths:
    """Embed, train, evaluate and register with `encoder`; the clean data is copied from `data` if given
    (the same synthetic set for every family: validated once)."""
    raw = tiny_params_dict(FEW, *layers, embed={"encoder": str(encoder)})
    paths = write_project(root / "project", raw)
    stages = ["embed", "train", "evaluate", "register"]
    if data is None:
        stages = ["ingest", "validate", *stages]
    else:
        for validated in ("ingest", "clean"):
            shutil.copytree(data / validated, paths.root / "data" / validated)
    reset_mlflow()
    try:
        run_stages(parse_params(raw), paths, *stages)
    finally:
        reset_mlflow()
    return paths


@pytest.fixture(scope="module")
def trained_family(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], tuple[ProjectPaths, Path]]:
    """A project trained through register with each family's tiny LM, once per module (CLIP's is used
    three times)."""
    trained: dict[str, tuple[ProjectPaths, Path]] = {}
    # One content-addressed cache for all of them: the same data, so the real images' Inception features and
    # the judge are computed once, not per family (the families' own embeddings have their own keys).
    cache = tmp_path_factory.mktemp("shared-cache")

    def get(kind: str) -> tuple[ProjectPaths, Path]:
        """`kind`, `kind+lora` (its LM adapted with LoRA while the GAN trains) or `kind+words` (G and D attend
        to its token states)."""
        if kind not in trained:
            family, _, variant = kind.partition("+")
            root = tmp_path_factory.mktemp(family)
            encoder = build(family, root / "lm")
            first = next(iter(trained.values()), None)
            data = first[0].root / "data" if first else None
            tuning = {"train": {"text": {"finetune": variant}}} if variant == "lora" else {}
            if variant == "words":
                tuning = WORDS
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv("T2IGAN_CACHE_DIR", str(cache))
                trained[kind] = (_trained(root, encoder, data, tuning), encoder)
        return trained[kind]

    return get


@pytest.mark.parametrize("kind", sorted(WIDTHS))
def test_a_family_trains_registers_and_loads_in_a_fresh_process(
    tmp_path: Path, kind: str, trained_family: Callable[[str], tuple[ProjectPaths, Path]]
) -> None:
    paths, _ = trained_family(kind)
    embedded = read_json(paths.metrics("embed"))
    assert embedded["dim"] == WIDTHS[kind] and embedded["family"] != "encoder"
    assert read_json(paths.metrics("register"))["promoted"]

    manifest = pd.read_parquet(paths.clean_manifest)
    captions = manifest["caption"].head(2).tolist()
    env = tool_env(MLFLOW_TRACKING_URI=f"sqlite:///{paths.mlruns / 'mlflow.db'}")
    done = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, json.dumps(captions)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert len(result["images"]) == 2
    # the registered model embeds a caption exactly as the embed stage did for training
    trained_vectors = np.load(paths.embeddings_dir / EMBEDDINGS_FILE)[:2]
    np.testing.assert_allclose(np.array(result["vectors"]), trained_vectors, atol=1e-5)
    if kind.endswith("+words"):
        _assert_drawn_from_the_words_training_read(paths, [decode_png(image) for image in result["images"]])


def test_a_clip_conditioned_model_is_served_and_refuses_captions_longer_than_clip_reads(
    tmp_path: Path, trained_family: Callable[[str], tuple[ProjectPaths, Path]]
) -> None:
    paths, encoder = trained_family("clip+words")
    from transformers import AutoTokenizer

    long_caption = "a red circle " * 25
    tokens = len(AutoTokenizer.from_pretrained(encoder)(long_caption)["input_ids"])
    assert tokens > 64 and len(long_caption) <= 400  # within the caption limit, beyond the model's

    uri = f"sqlite:///{paths.mlruns / 'mlflow.db'}"
    with model_server("models:/t2igan@champion", uri, log_path=tmp_path / "serve.log") as base:
        status, payload = post_invocations(
            base, json.dumps({"dataframe_records": [{"caption": "a small red circle", "seed": 1}]})
        )
        assert status == 200, payload
        assert decode_png(payload["predictions"][0]["image"]).shape == (16, 16, 3)
        status, payload = post_invocations(
            base, json.dumps({"dataframe_records": [{"caption": "fine"}, {"caption": long_caption}]})
        )
        assert status == 400
        assert f"row 1: the caption is {tokens} tokens" in payload["message"]
        assert "reads at most 64" in payload["message"]


def _checkpoint_text(paths: ProjectPaths) -> dict[str, Any]:
    import torch

    newest = max(paths.checkpoints_dir.glob("ckpt-*.pt"))
    return dict(torch.load(newest, map_location="cpu", weights_only=True)["trainer"]["text"])


def test_a_lora_adapted_lm_is_registered_served_exactly_and_continued_by_init_from(
    tmp_path: Path, trained_family: Callable[[str], tuple[ProjectPaths, Path]]
) -> None:
    """GPT-2 adapted with LoRA: the registered model carries base LM + adapter, a fresh process embeds a
    caption exactly as the training process last did, and fine-tuning from it starts from its adapter."""
    import mlflow
    import torch

    from t2igan.text.locate import weights_hash
    from t2igan.training.init_from import load_initial_weights
    from t2igan.training.text_model import TrainableText
    from t2igan.training.trainer import Trainer

    paths, encoder = trained_family("gpt2+lora")
    params = parse_params(
        tiny_params_dict(FEW, {"train": {"text": {"finetune": "lora"}}}, embed={"encoder": str(encoder)})
    )
    captions = pd.read_parquet(paths.clean_manifest)["caption"].head(2).tolist()
    uri = f"sqlite:///{paths.mlruns / 'mlflow.db'}"
    done = subprocess.run(
        [sys.executable, "-c", FRESH_PROCESS, json.dumps(captions)],
        cwd=tmp_path,
        env=tool_env(MLFLOW_TRACKING_URI=uri),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    served = np.array(json.loads(done.stdout.strip().splitlines()[-1])["vectors"], dtype=np.float32)

    # What the training process computed with its last adapter (the final checkpoint's)
    text = TrainableText.build(params, paths, torch.device("cpu"))
    text.load_state_dict(_checkpoint_text(paths))
    with torch.no_grad():
        in_training = text.vectors(text.tokens(np.arange(2))).numpy()
    # the served LM has its adapters merged into its weights (peft's merge_and_unload): equal to float rounding
    np.testing.assert_allclose(served, in_training, rtol=0, atol=1e-5)
    frozen = np.load(paths.embeddings_dir / EMBEDDINGS_FILE)[:2]
    assert not np.allclose(served, frozen, atol=1e-4)  # the adaptation is what conditions the generator

    # Lineage: the base LM, untouched, and the adapter's hash
    reset_mlflow()
    mlflow.set_tracking_uri(uri)
    version = mlflow.MlflowClient().get_model_version_by_alias("t2igan", "champion")
    record = read_json(paths.model_dir / "text_tuning" / "tuning.json")
    assert version.tags["lineage.text.finetune"] == "lora"
    assert version.tags["lineage.text.adapter_sha256"] == record["weights_sha256"]
    assert version.tags["lineage.text.base_sha256"] == weights_hash(encoder)

    # init_from the registered model: the adapter it was registered with, into a run adapted the same way
    initial = load_initial_weights("models:/t2igan@champion", paths)
    reset_mlflow()
    fresh = TrainableText.build(params, paths, torch.device("cpu"))
    trainer = Trainer(_gan(paths), params.train, torch.device("cpu"), text=fresh)
    trainer.start_from(initial)
    expected = _checkpoint_text(paths)
    assert all(torch.equal(fresh.state_dict()[k], expected[k]) for k in expected)


def _assert_drawn_from_the_words_training_read(paths: ProjectPaths, served: list[np.ndarray]) -> None:
    """Word attention on CLIP's token states (the tower's hidden width, not its projection's) through G and
    D: evaluated, registered, and served in a fresh process with the images the cached token states give."""
    import torch

    from t2igan.gan.conditioning import CaptionFeatures
    from t2igan.gan.export import load_generator
    from t2igan.gan.sampling import generate, noise_for_seeds
    from t2igan.text.embeddings import load_token_states

    gan = _gan(paths)
    assert gan.word_attention and (gan.text_dim, gan.word_dim) == (PROJECTION, WIDTH)
    assert read_json(paths.metrics("eval"))["fid_12"] > 0

    generator, _ = load_generator(paths.model_dir)
    tokens = load_token_states(paths.embeddings_dir, len(pd.read_parquet(paths.clean_manifest)))
    cached = CaptionFeatures(
        np.load(paths.embeddings_dir / EMBEDDINGS_FILE)[:2], np.asarray(tokens.states[:2]), tokens.lengths[:2]
    )
    from_cache = generate(generator, cached, [3, 3])
    assert np.abs(np.stack(served).astype(int) - from_cache.astype(int)).max() <= 1  # float rounding at most
    # the words matter: the same sentences with the other caption's words draw otherwise (before rounding)
    noise, sentence = noise_for_seeds([3, 3], gan.z_dim), torch.from_numpy(cached.sentence)
    words = cached.words()
    assert words is not None
    with torch.no_grad():
        swapped = words.roll(1)  # each image given the other caption's words
        assert not torch.allclose(generator(noise, sentence, swapped), generator(noise, sentence, words))


def _gan(paths: ProjectPaths) -> Any:
    from t2igan.gan.architecture import GANConfig
    from t2igan.gan.export import CONFIG_FILE

    return GANConfig.from_dict(read_json(paths.model_dir / CONFIG_FILE)["gan"])
