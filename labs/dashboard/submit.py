"""The submit form (寄快递): parameter fields read from the catalogue, and batches with failures.

:func:`fields` turns a task's pydantic parameter model into simple field specs
(kind, default, bounds) that the page draws as widgets, so a task added to the
catalogue gets a form without touching the dashboard. :func:`batch_params`
makes a batch in which a chosen share of the jobs get poison input.
:func:`embedder_notice` says, beside a task that indexes PDFs, which embedder
their chunks get: the model, or the fallback and why (a hash mismatch, ...).
"""

from __future__ import annotations

import json
import math
import types
import typing
from dataclasses import dataclass
from typing import Any

import annotated_types
import redis

from .. import i18n, jobs
from ..catalogue import get_spec
from ..document_folders import documents_dir
from ..embedder import EmbedderUnavailable, get_embedder
from ..errors import InvalidParams
from ..retry import RetryPolicy

POISONABLE = {"risky_task"}
"""Tasks whose input can be poisoned (``data={"poison": true}``)."""


@dataclass(frozen=True)
class FieldSpec:
    """One parameter of a task, as the form draws it."""

    name: str
    kind: str  # int, float, bool, str, json, document, documents
    default: Any
    minimum: float | None = None
    maximum: float | None = None
    required: bool = False
    description: str = ""


def _bounds(metadata: list[Any]) -> tuple[float | None, float | None]:
    low = high = None
    for item in metadata:
        if isinstance(item, annotated_types.Ge | annotated_types.Gt):
            low = float(getattr(item, "ge", getattr(item, "gt", 0)))
        if isinstance(item, annotated_types.Le | annotated_types.Lt):
            high = float(getattr(item, "le", getattr(item, "lt", 0)))
    return low, high


def _kind(name: str, annotation: Any) -> str:
    if name == "document":
        return "document"
    if name == "documents":
        return "documents"
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return "json"
    for python_type, kind in ((bool, "bool"), (int, "int"), (float, "float"), (str, "str")):
        if annotation is python_type:
            return kind
    return "json"


def fields(task: str) -> list[FieldSpec]:
    """The task's parameters, in the order its model declares them."""
    model = get_spec(task).params
    out = []
    for name, info in model.model_fields.items():
        low, high = _bounds(list(info.metadata))
        default = None if info.is_required() else info.get_default(call_default_factory=True)
        out.append(
            FieldSpec(
                name=name,
                kind=_kind(name, info.annotation),
                default=default,
                minimum=low,
                maximum=high,
                required=info.is_required(),
                description=info.description or "",
            )
        )
    return out


@dataclass(frozen=True)
class JsonText:
    """A parameter typed as JSON text in the form (parsed when the batch is sent)."""

    text: str


def collect_params(values: dict[str, Any]) -> dict[str, Any]:
    """The form's values as task parameters: JSON text parsed, empty fields left to the task's defaults."""
    params: dict[str, Any] = {}
    for name, value in values.items():
        if isinstance(value, JsonText):
            value = parse_json(value.text)
        if value is not None:
            params[name] = value
    return params


def parse_json(text: str) -> Any:
    """A JSON value typed into the form (raises :class:`InvalidParams` with the position)."""
    try:
        return json.loads(text) if text.strip() else None
    except json.JSONDecodeError as exc:
        raise InvalidParams(f"not valid JSON: {exc}") from None


def is_poisoned(index: int, batch: int, share: float) -> bool:
    """Whether job ``index`` of ``batch`` gets poison input, spreading ``share`` evenly over the batch."""
    share = min(max(share, 0.0), 1.0)
    return math.floor((index + 1) * share + 1e-9) > math.floor(index * share + 1e-9)


def batch_params(task: str, params: dict[str, Any], batch: int, poison_share: float = 0.0) -> list[dict[str, Any]]:
    """``batch`` copies of ``params``; for a poisonable task a ``poison_share`` of them get poison input."""
    if not 1 <= batch <= 10_000:
        raise InvalidParams("batch size must be between 1 and 10000")
    out = []
    for index in range(batch):
        item = json.loads(json.dumps(params))  # a deep copy, JSON only
        if task in POISONABLE and poison_share > 0:
            data = dict(item.get("data") or {})
            data["poison"] = is_poisoned(index, batch, poison_share)
            item["data"] = data
        out.append(item)
    return out


def retry_policy(task: str, **overrides: Any) -> RetryPolicy:
    """The task's default retry policy with the form's changes (validated)."""
    try:
        return RetryPolicy.model_validate({**get_spec(task).retry.model_dump(), **overrides})
    except ValueError as exc:
        raise InvalidParams(f"retry: {exc}") from None


def submit_batch(
    conn: redis.Redis,
    task: str,
    params_list: list[dict[str, Any]],
    *,
    retry: RetryPolicy | None = None,
    timeout: float | None = None,
    engine: str = "rq",
) -> list[str]:
    """Submit each params as a job on ``engine`` (validated by the catalogue); return the tracking numbers.

    The dashboard is the instructor's: with fair share on, its jobs go first (:mod:`labs.fairness`).
    """
    return [jobs.submit(conn, task, params, retry=retry, timeout=timeout, engine=engine, priority=True) for params in params_list]


def available_documents() -> list[str]:
    """PDF names in the lab's documents folder (for process_document(s))."""
    return sorted(p.name for p in documents_dir().glob("*.pdf"))


def takes_documents(task: str) -> bool:
    """Does the task index PDFs (a ``document`` or ``documents`` parameter)?"""
    return any(field.kind in {"document", "documents"} for field in fields(task))


def embedder_notice(lang: str) -> tuple[str, str]:
    """Which embedder the PDFs' chunks get: ``(level, line)``, level ``caption``, ``warning`` or ``error``.

    Chosen in this process as each worker chooses it (the same settings,
    :func:`labs.embedder.get_embedder`), so a fallback is said where the
    instructor looks, with its reason, not only in a worker's log.
    """
    try:
        embedder = get_embedder()
    except EmbedderUnavailable as exc:  # LAB_EMBEDDER=fastembed and no model: the jobs will fail
        return "error", i18n.t("embedder.unavailable", lang, reason=str(exc))
    if embedder.kind == "fallback":
        return "warning", i18n.t("embedder.fallback", lang, name=embedder.name, reason=embedder.reason or "-")
    return "caption", i18n.t("embedder.model", lang, name=embedder.name)
