"""Which kind of language model a checkpoint holds, read from its own config, and how to load each kind.

People bring sentence encoders (BERT, MiniLM, E5, BGE), decoder LLMs (GPT-2, Llama, Qwen, Mistral, Phi,
Gemma), encoder-decoders (T5, the Imagen line) and contrastive text towers (CLIP, SigLIP: GALIP, LAFITE,
StyleGAN-T). The family fixes what "a sentence vector" means for the model: a pooled encoder state, the
last real token of a causal model (the only one that has read the whole caption), T5's encoder alone, or the
tower's own projected embedding. It is decided by `model_type` and the mappings `transformers` keeps of which
types have a masked-LM or a causal-LM head, so a new model type of a known kind needs no change here.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn

from t2igan.errors import ConfigError
from t2igan.hub import quiet_loading

Family = Literal["encoder", "decoder", "encoder-decoder", "clip", "siglip"]
Pooling = Literal["mean", "cls", "last", "max", "tower"]

CLIP_TYPES = frozenset({"clip", "clip_text_model"})
SIGLIP_TYPES = frozenset({"siglip", "siglip_text_model", "siglip2", "siglip2_text_model"})
SUPPORTED = (
    "encoder (BERT, RoBERTa, MiniLM, MPNet, E5, BGE: any masked-LM type), decoder LLMs (GPT-2, Llama, Qwen, "
    "Mistral, Phi, Gemma: any causal-LM type), encoder-decoder (T5, mT5, BART: the encoder), CLIP, SigLIP"
)
# What `embed.pooling: auto` means per family; "tower" is CLIP/SigLIP's own pooled, projected embedding.
DEFAULT_POOLING: dict[Family, Pooling] = {
    "encoder": "mean",
    "decoder": "last",
    "encoder-decoder": "mean",
    "clip": "tower",
    "siglip": "tower",
}

# Encoder types transformers knows without a masked-LM head in its mappings.
_TEXT_ENCODER_TYPES = frozenset({"nomic_bert"})


def detect_family(config: Any, where: str) -> Family:
    """The family of a checkpoint from its config; a one-line ConfigError naming it when unsupported."""
    from transformers.models.auto import modeling_auto

    model_type = str(getattr(config, "model_type", ""))
    if model_type in CLIP_TYPES:
        return "clip"
    if model_type in SIGLIP_TYPES:
        return "siglip"
    if getattr(config, "is_encoder_decoder", False):
        return "encoder-decoder"
    architectures = [str(a) for a in getattr(config, "architectures", None) or []]
    # BERT-like types also have a causal-LM head class; a masked-LM head is what marks an encoder.
    if model_type in modeling_auto.MODEL_FOR_MASKED_LM_MAPPING_NAMES or model_type in _TEXT_ENCODER_TYPES:
        return "encoder"
    if any(a.endswith(("ForMaskedLM", "ForPreTraining")) for a in architectures):
        return "encoder"
    if model_type in modeling_auto.MODEL_FOR_CAUSAL_LM_MAPPING_NAMES:
        return "decoder"
    if any(a.endswith(("ForCausalLM", "LMHeadModel")) for a in architectures):
        return "decoder"
    named = f"{model_type!r}" + (f" ({', '.join(architectures)})" if architectures else "")
    raise ConfigError(
        f"embed.encoder: {where} is a {named} model, not a supported language model; supported: {SUPPORTED}"
    )


def load_model(path: Any, family: Family, dtype: torch.dtype) -> nn.Module:
    """The part of the checkpoint that embeds text: T5's encoder alone, CLIP/SigLIP's text tower."""
    with quiet_loading():
        return _load(path, family, dtype)


def _load(path: Any, family: Family, dtype: torch.dtype) -> nn.Module:
    import transformers

    kwargs: dict[str, Any] = {"dtype": dtype}
    if family == "clip":
        # A full CLIP checkpoint keeps the projection width beside the towers' configs, not in the text one.
        full = transformers.AutoConfig.from_pretrained(path)
        text_config = getattr(full, "text_config", None) or full
        text_config.projection_dim = getattr(full, "projection_dim", text_config.projection_dim)
        return transformers.CLIPTextModelWithProjection.from_pretrained(path, config=text_config, **kwargs)
    if family == "siglip":
        return transformers.SiglipTextModel.from_pretrained(path, **kwargs)
    if family == "encoder-decoder":
        config = transformers.AutoConfig.from_pretrained(path)
        encoder_only = {"t5": "T5EncoderModel", "mt5": "MT5EncoderModel", "umt5": "UMT5EncoderModel"}
        if config.model_type in encoder_only:
            return getattr(transformers, encoder_only[config.model_type]).from_pretrained(path, **kwargs)
        return transformers.AutoModel.from_pretrained(path, **kwargs).get_encoder()
    return transformers.AutoModel.from_pretrained(path, **kwargs)


def hidden_width(model: Any) -> int:
    """The width of the token states (GPT-2's n_embd and T5's d_model are aliased as hidden_size)."""
    config = model.config
    return int(getattr(config, "hidden_size", None) or config.d_model)


def output_width(model: Any, family: Family, pooling: Pooling) -> int:
    """The width of the sentence vectors: the projection's for a tower's own embedding, else the hidden size."""
    if pooling == "tower" and family == "clip":
        return int(model.text_projection.out_features)
    if pooling == "tower" and family == "siglip":
        return int(getattr(model, "text_model", model).head.out_features)
    return hidden_width(model)


def layer_count(config: Any) -> int:
    """Transformer layers (hidden_states holds one more: the embeddings' output)."""
    for name in ("num_hidden_layers", "num_layers", "n_layer"):
        value = getattr(config, name, None)
        if isinstance(value, int):
            return value
    text_config = getattr(config, "text_config", None)
    if text_config is not None:
        return layer_count(text_config)
    raise ConfigError(f"embed.layer: cannot tell how many layers a {config.model_type!r} model has")
