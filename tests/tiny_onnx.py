"""A tiny, offline stand-in for a real embedding model, in fastembed's folder layout.

fastembed loads a local model folder (``specific_model_path``) that holds:

- ``model.onnx`` with inputs ``input_ids``, ``attention_mask`` and, if the graph
  declares it, ``token_type_ids`` (all int64, ``[batch, seq]``), and a first
  output ``[batch, seq, dim]`` (``last_hidden_state``) that it pools;
- ``tokenizer.json`` and ``tokenizer_config.json`` (which must give
  ``model_max_length`` and the pad token); ``config.json`` and
  ``special_tokens_map.json`` are optional but real models ship them.

The "model" is a lookup table: each token id picks a fixed random row, so the
vectors mean nothing, but they are deterministic and have the right shape.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

TINY_DIM = 16
SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]"]
_WORDS = """
    the a of and to in is for on with parcel parcels delivery depot sorting hub
    radio broadcast transmitter telephone exchange weather forecast rain cooking
    bread oven astronomy telescope star planet orbit returns refund courier van
"""
WORDS = _WORDS.split()
MAX_LENGTH = 64


def _build_onnx(vocab_size: int, dim: int, seed: int) -> onnx.ModelProto:
    rng = np.random.default_rng(seed)
    words = rng.normal(size=(vocab_size, dim)).astype(np.float32)
    types = rng.normal(scale=0.1, size=(2, dim)).astype(np.float32)

    def int_input(name: str) -> onnx.ValueInfoProto:
        return helper.make_tensor_value_info(name, TensorProto.INT64, ["batch", "seq"])

    nodes = [
        helper.make_node("Gather", ["word_table", "input_ids"], ["word_vectors"]),
        helper.make_node("Gather", ["type_table", "token_type_ids"], ["type_vectors"]),
        helper.make_node("Add", ["word_vectors", "type_vectors"], ["summed"]),
        # zero the padding positions, as a transformer's attention mask would
        helper.make_node("Cast", ["attention_mask"], ["mask_float"], to=TensorProto.FLOAT),
        helper.make_node("Unsqueeze", ["mask_float", "last_axis"], ["mask_3d"]),
        helper.make_node("Mul", ["summed", "mask_3d"], ["last_hidden_state"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_embedder",
        inputs=[int_input("input_ids"), int_input("attention_mask"), int_input("token_type_ids")],
        outputs=[helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "seq", dim])],
        initializer=[
            numpy_helper.from_array(words, "word_table"),
            numpy_helper.from_array(types, "type_table"),
            numpy_helper.from_array(np.array([-1], dtype=np.int64), "last_axis"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # old enough for any onnxruntime that supports opset 17
    onnx.checker.check_model(model)
    return model


def _build_tokenizer() -> Tokenizer:
    vocab = {token: i for i, token in enumerate(SPECIAL_TOKENS + WORDS)}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.Lowercase()
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])],
    )
    tokenizer.add_special_tokens(SPECIAL_TOKENS)
    tokenizer.enable_padding(pad_id=vocab["[PAD]"], pad_token="[PAD]")
    return tokenizer


def build_tiny_model(folder: str | Path, dim: int = TINY_DIM, seed: int = 0) -> Path:
    """Write a tiny ONNX embedding model and its tokenizer files into ``folder``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    vocab_size = len(SPECIAL_TOKENS) + len(WORDS)
    onnx.save(_build_onnx(vocab_size, dim, seed), folder / "model.onnx")
    _build_tokenizer().save(str(folder / "tokenizer.json"))
    files = {
        "config.json": {"model_type": "bert", "hidden_size": dim, "pad_token_id": 0},
        "tokenizer_config.json": {
            "model_max_length": MAX_LENGTH,
            "pad_token": "[PAD]",
            "unk_token": "[UNK]",
            "cls_token": "[CLS]",
            "sep_token": "[SEP]",
            "do_lower_case": True,
        },
        "special_tokens_map.json": {
            "pad_token": "[PAD]",
            "unk_token": "[UNK]",
            "cls_token": "[CLS]",
            "sep_token": "[SEP]",
        },
    }
    for name, content in files.items():
        (folder / name).write_text(json.dumps(content, indent=2))
    return folder
