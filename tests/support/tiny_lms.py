"""Tiny, randomly initialised language models of every family t2igan reads, built offline from their configs.

Each is what a user would point `embed.encoder` at: a directory written by `save_pretrained`, with a
tokenizer of the family's conventions (special tokens, padding side, a pad token or none). The tokenizer is a
byte-level BPE trained here on a few sentences, so any caption tokenizes and nothing is downloaded.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

WIDTH = 32
POSITIONS = 64
PROJECTION = 24  # CLIP's projection: not the hidden width, so the pooled width is seen to flow through
CORPUS = [
    "a small red circle on the left on a white background",
    "a large blue square in the center on a black background",
    "a green triangle at the top right, a yellow diamond at the bottom",
    "purple orange cyan magenta star cross ring heart shape",
]
# The models, by the name of the family member they stand for.
KINDS = ("bert", "gpt2", "qwen2", "t5", "clip", "siglip")


def _tokenizer(special: list[str], template: str | None, **named: Any) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400, special_tokens=special, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tokenizer.train_from_iterator(CORPUS, trainer)
    if template is not None:
        pieces = [piece for piece in template.split() if piece != "$A"]
        tokenizer.post_processor = processors.TemplateProcessing(
            single=template, special_tokens=[(piece, tokenizer.token_to_id(piece)) for piece in pieces]
        )
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, **named)


def _sentencepiece_style(**named: Any) -> Any:
    """T5's and SigLIP's conventions: <pad>, </s> appended, <unk>."""
    return _tokenizer(
        ["<pad>", "</s>", "<unk>"],
        "$A </s>",
        pad_token="<pad>",
        eos_token="</s>",
        unk_token="<unk>",
        model_max_length=POSITIONS,
        **named,
    )


def _ids(tokenizer: Any, **tokens: str) -> dict[str, int]:
    return {f"{name}_token_id": tokenizer.convert_tokens_to_ids(token) for name, token in tokens.items()}


def build(kind: str, directory: Path) -> Path:
    """A tiny model of `kind` (one of KINDS) saved with its tokenizer under `directory`; returns it."""
    import torch
    import transformers as tf

    torch.manual_seed(0)
    small = {"hidden_size": WIDTH, "intermediate_size": 2 * WIDTH, "num_hidden_layers": 2}
    small["num_attention_heads"] = 2
    if kind == "bert":
        tok = _tokenizer(
            ["[PAD]", "[UNK]", "[CLS]", "[SEP]"],
            "[CLS] $A [SEP]",
            pad_token="[PAD]",
            unk_token="[UNK]",
            cls_token="[CLS]",
            sep_token="[SEP]",
            model_max_length=POSITIONS,
        )
        config = tf.BertConfig(
            vocab_size=len(tok), max_position_embeddings=POSITIONS, **small, **_ids(tok, pad="[PAD]")
        )
        model: Any = tf.BertModel(config)
    elif kind == "gpt2":  # GPT-2's tokenizer has no pad token, adds no special tokens, pads on the right
        tok = _tokenizer(
            ["<|endoftext|>"],
            None,
            eos_token="<|endoftext|>",
            bos_token="<|endoftext|>",
            model_max_length=POSITIONS,
        )
        config = tf.GPT2Config(
            vocab_size=len(tok),
            n_embd=WIDTH,
            n_layer=2,
            n_head=2,
            n_positions=POSITIONS,
            **_ids(tok, bos="<|endoftext|>", eos="<|endoftext|>"),
        )
        model = tf.GPT2LMHeadModel(config)
    elif kind == "qwen2":  # a pad token of its own, padding on the left as chat LLM tokenizers often do
        tok = _tokenizer(
            ["<|endoftext|>", "<|pad|>"],
            "$A <|endoftext|>",
            eos_token="<|endoftext|>",
            pad_token="<|pad|>",
            padding_side="left",
            model_max_length=POSITIONS,
        )
        config = tf.Qwen2Config(
            vocab_size=len(tok),
            num_key_value_heads=1,
            max_position_embeddings=POSITIONS,
            **small,
            **_ids(tok, eos="<|endoftext|>", pad="<|pad|>"),
        )
        model = tf.Qwen2ForCausalLM(config)
    elif kind == "t5":  # a full encoder-decoder checkpoint: t2igan loads the encoder alone
        tok = _sentencepiece_style()
        config = tf.T5Config(
            vocab_size=len(tok),
            d_model=WIDTH,
            d_kv=16,
            d_ff=2 * WIDTH,
            num_layers=2,
            num_heads=2,
            decoder_start_token_id=tok.pad_token_id,
            **_ids(tok, pad="<pad>", eos="</s>"),
        )
        model = tf.T5ForConditionalGeneration(config)
    elif kind == "clip":  # the full dual-encoder checkpoint: t2igan takes the text tower and its projection
        tok = _tokenizer(
            ["<|startoftext|>", "<|endoftext|>"],
            "<|startoftext|> $A <|endoftext|>",
            bos_token="<|startoftext|>",
            eos_token="<|endoftext|>",
            pad_token="<|endoftext|>",
            model_max_length=POSITIONS,
        )
        text = {
            "vocab_size": len(tok),
            "max_position_embeddings": POSITIONS,
            **small,
            **_ids(tok, bos="<|startoftext|>", eos="<|endoftext|>", pad="<|endoftext|>"),
        }
        vision = {**small, "num_hidden_layers": 1, "image_size": 32, "patch_size": 16}
        config = tf.CLIPConfig(text_config=text, vision_config=vision, projection_dim=PROJECTION)
        model = tf.CLIPModel(config)
    elif kind == "siglip":  # padded to its full length, no attention mask, as SigLIP was trained
        tok = _sentencepiece_style(model_input_names=["input_ids"])
        text = {"vocab_size": len(tok), "max_position_embeddings": POSITIONS, **small}
        vision = {**small, "num_hidden_layers": 1, "image_size": 32, "patch_size": 16}
        model = tf.SiglipModel(tf.SiglipConfig(text_config=text, vision_config=vision))
    else:
        raise ValueError(f"unknown kind {kind!r}; one of {KINDS}")
    target = directory / kind
    model.save_pretrained(target)
    tok.save_pretrained(target)
    return target


def sentence_transformers_dir(directory: Path, pooling: str = "cls", max_seq_length: int = 40) -> Path:
    """The tiny BERT as sentence-transformers saves a model: modules.json, a Pooling module, a Normalize."""
    target = build("bert", directory)
    modules = [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    (target / "modules.json").write_text(json.dumps(modules))
    flags = {
        "cls": "pooling_mode_cls_token",
        "mean": "pooling_mode_mean_tokens",
        "max": "pooling_mode_max_tokens",
    }
    (target / "1_Pooling").mkdir()
    pooling_config = {
        "word_embedding_dimension": WIDTH,
        **{flag: name == pooling for name, flag in flags.items()},
    }
    (target / "1_Pooling" / "config.json").write_text(json.dumps(pooling_config))
    (target / "2_Normalize").mkdir()
    (target / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": max_seq_length}))
    return target
