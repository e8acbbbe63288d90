"""The task catalogue: the seed's jobs as real job functions, and the allow-list.

Every job here is an ordinary importable function with JSON-only keyword
arguments (RQ runs it in a worker process; a notebook cannot define one, since
RQ refuses functions from ``__main__``). :data:`CATALOGUE` maps a public task
name to its function, its parameter model, its default retry policy and its
timeout. Nothing outside the catalogue can be enqueued through the lab, and the
worker refuses a job whose function is not in it.
"""

from __future__ import annotations

import json
import logging
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticSerializationError
from rq import get_current_job

from .config import sleep, state_dir
from .errors import InvalidParams, PoisonInput, UnknownTask
from .progress import progress
from .retry import NO_RETRY, RetryPolicy

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- helpers


class SMTPTemporaryError(ConnectionError):
    """A simulated temporary SMTP failure (421): worth retrying."""


def current_attempt() -> int:
    """1 for the first delivery, 2 for the first redelivery, ... (1 outside a worker)."""
    job = get_current_job()
    return int(job.meta.get("attempt", 1)) if job else 1


def documents_dir() -> Path:
    """Where uploaded and sample PDFs live (``<state dir>/documents``)."""
    path = state_dir() / "documents"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _allowed_roots() -> list[Path]:
    roots = [documents_dir()]
    extra = os.environ.get("LAB_DOCUMENT_ROOTS", "")
    roots += [Path(p) for p in extra.split(os.pathsep) if p]
    return [r.resolve() for r in roots]


def inside_lab(ref: str) -> Path | None:
    """Where a document reference points, or None when that is outside the lab's document folders."""
    candidate = Path(ref)
    if not candidate.is_absolute():
        candidate = documents_dir() / candidate
    candidate = candidate.resolve()
    return candidate if any(candidate == root or root in candidate.parents for root in _allowed_roots()) else None


def resolve_document(ref: str) -> Path:
    """A document reference (a name under the documents folder, or a path inside an allowed root).

    Checked twice: at submit (params validation) and here in the worker, for a
    job written into Redis without going through ``submit()``.
    """
    from .documents import DocumentError

    candidate = inside_lab(ref)
    if candidate is None:
        raise DocumentError(f"document {ref!r} is outside the lab's document folders")
    if not candidate.is_file():
        raise DocumentError(f"file not found: {ref}")
    return candidate


# --------------------------------------------------------------------------- job functions


def noop(value: Any = None) -> Any:
    """Do nothing and return ``value``: the fastest possible parcel (used by the benchmark)."""
    return value


def slow_task(steps: int = 10, step_seconds: float = 0.5) -> dict[str, Any]:
    """Work through ``steps`` steps of ``step_seconds`` each, reporting progress (timeouts, cancel)."""
    for step in range(1, steps + 1):
        sleep(step_seconds)
        progress(step, steps, f"step {step}/{steps}")
    return {"steps": steps}


def send_email(
    to: str,
    subject: str,
    body: str = "",
    failure_rate: float = 0.0,
    fail_first: int = 0,
    duration: float = 0.3,
) -> dict[str, Any]:
    """Send an e-mail through a simulated SMTP server that is sometimes unavailable.

    ``failure_rate``: chance that an attempt fails; ``fail_first``: the first N
    attempts fail for sure (for a lesson you can repeat).
    """
    attempt = current_attempt()
    progress(0, 1, f"connecting to smtp (attempt {attempt})")
    sleep(duration)
    if attempt <= fail_first or random.random() < failure_rate:
        raise SMTPTemporaryError(f"421 smtp.example.com service not available (attempt {attempt})")
    progress(1, 1, f"sent to {to}")
    return {"to": to, "subject": subject, "attempt": attempt, "bytes": len(body.encode())}


def risky_task(data: dict[str, Any], fail_fast: bool = False) -> dict[str, Any]:
    """Process a record; a record with ``"poison": true`` can never be processed.

    A poison record fails on every attempt, so after its retries it lands in the
    dead-letter queue. With ``fail_fast`` the error is marked permanent and it
    goes there at once, without wasting redeliveries.
    """
    sleep(0.2)
    if data.get("poison"):
        message = f"cannot process poison record {data!r}"
        if fail_fast:
            raise PoisonInput(message)
        raise ValueError(message)
    return {"processed": data}


def process_document(document: str) -> dict[str, Any]:
    """Extract the text of one PDF with pypdf, chunk it, embed it and index it."""
    from .documents import index_pdf

    path = resolve_document(document)
    return index_pdf(path, progress=progress)


def process_documents(documents: list[str]) -> dict[str, Any]:
    """Process a batch of PDFs with progress per file; a broken file does not stop the batch."""
    from .documents import DocumentError, index_pdf

    results: list[dict[str, Any]] = []
    failed: list[dict[str, str]] = []
    total = len(documents)
    progress(0, total, "starting")
    for done, ref in enumerate(documents, start=1):
        try:
            results.append(index_pdf(resolve_document(ref)))
        except DocumentError as exc:
            failed.append({"document": ref, "reason": str(exc)})
        progress(done, total, f"{ref}: {'failed' if failed and failed[-1]['document'] == ref else 'indexed'}")
    return {"indexed": len(results), "failed": failed, "results": results}


def handle_failed_tasks(limit: int = 1000) -> dict[str, Any]:
    """Sweep the dead-letter queue and log every parcel in it (the seed's handle_failed_tasks)."""
    from .broker import get_connection
    from .dlq import sweep

    job = get_current_job()
    conn = job.connection if job else get_connection()
    return sweep(conn, limit=limit)


def agent_chain(question: str, k: int = 3, step_seconds: float = 1.0) -> dict[str, Any]:
    """Scenario 2: retrieve → analyse → answer over the document index, each step streamed as progress."""
    from .scenarios.agent import run_chain

    return run_chain(question, k=k, step_seconds=step_seconds, progress=progress)


def summarize(item: str, title: str, text: str, duration: float = 0.5) -> dict[str, Any]:
    """Scenario 3: write an extractive summary of ``text`` into the summaries database."""
    from .scenarios.summaries import write_summary

    job = get_current_job()
    progress(0, 1, f"summarising {title}")
    sleep(duration)
    row = write_summary(job.meta.get("batch", "") if job else "", item, title, text, worker=job.worker_name or "" if job else "")
    progress(1, 1, f"saved summary of {title}")
    return row


# --------------------------------------------------------------------------- parameter models


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoopParams(_Params):
    value: Any = None


class SlowParams(_Params):
    steps: int = Field(10, ge=1, le=10_000)
    step_seconds: float = Field(0.5, ge=0, le=60)


class EmailParams(_Params):
    to: str = Field("student@example.com", min_length=3, max_length=254)
    subject: str = Field("hello", max_length=200)
    body: str = Field("", max_length=10_000)
    failure_rate: float = Field(0.0, ge=0, le=1)
    fail_first: int = Field(0, ge=0, le=100)
    duration: float = Field(0.3, ge=0, le=60)


class RiskyParams(_Params):
    data: dict[str, Any] = Field(default_factory=dict)
    fail_fast: bool = False


def _inside_lab(ref: str) -> str:
    if "\x00" in ref or inside_lab(ref) is None:
        raise ValueError(f"document {ref[:80]!r} is outside the lab's document folders")
    return ref


class DocumentParams(_Params):
    document: str = Field(..., min_length=1, max_length=500)

    _inside = field_validator("document")(_inside_lab)


class DocumentsParams(_Params):
    documents: list[str] = Field(..., min_length=1, max_length=1000)

    @field_validator("documents")
    @classmethod
    def _all_inside(cls, refs: list[str]) -> list[str]:
        return [_inside_lab(ref) for ref in refs]


class AgentParams(_Params):
    question: str = Field(..., min_length=1, max_length=1000)
    k: int = Field(3, ge=1, le=20)
    step_seconds: float = Field(1.0, ge=0, le=60)


class SummaryParams(_Params):
    item: str = Field(..., min_length=1, max_length=200)
    title: str = Field("", max_length=300)
    text: str = Field(..., min_length=1, max_length=200_000)
    duration: float = Field(0.5, ge=0, le=60)


class SweepParams(_Params):
    limit: int = Field(1000, ge=1, le=100_000)


# --------------------------------------------------------------------------- the catalogue


@dataclass(frozen=True)
class TaskSpec:
    """One entry of the allow-list."""

    name: str
    func: str
    params: type[BaseModel]
    retry: RetryPolicy
    timeout: float
    title: dict[str, str] = field(default_factory=dict)

    def validate(self, params: dict[str, Any] | None) -> dict[str, Any]:
        """Validated, JSON-only keyword arguments for the job function."""
        if params is not None and not isinstance(params, dict):
            raise InvalidParams(f"{self.name}: params must be a JSON object, got {type(params).__name__}")
        try:
            json.dumps(params or {}, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise InvalidParams(f"{self.name}: params must be plain JSON values: {exc}") from None
        try:
            model = self.params.model_validate(params or {})
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in err['loc']) or 'params'}: {err['msg'].removeprefix('Value error, ')}"
                for err in exc.errors()
            )
            raise InvalidParams(f"{self.name}: {problems}") from None
        try:
            return model.model_dump(mode="json")
        except (PydanticSerializationError, TypeError, ValueError) as exc:
            raise InvalidParams(f"{self.name}: params must be plain JSON values: {exc}") from None


def _spec(name: str, params: type[BaseModel], retry: RetryPolicy, timeout: float, zh: str, en: str) -> TaskSpec:
    return TaskSpec(name, f"{__name__}.{name}", params, retry, timeout, {"zh": zh, "en": en})


CATALOGUE: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        _spec("noop", NoopParams, NO_RETRY, 30, "空包裹（测吞吐）", "empty parcel (throughput)"),
        _spec("slow_task", SlowParams, NO_RETRY, 600, "慢任务（进度/超时/取消）", "slow task (progress, timeout, cancel)"),
        _spec("send_email", EmailParams, RetryPolicy(max_retries=3), 30, "发邮件（会重试）", "send e-mail (retried)"),
        _spec(
            "risky_task",
            RiskyParams,
            RetryPolicy(max_retries=3),
            30,
            "风险任务（死信队列）",
            "risky task (dead-letter queue)",
        ),
        _spec("process_document", DocumentParams, RetryPolicy(max_retries=2), 300, "处理一个PDF", "process one PDF"),
        _spec(
            "process_documents",
            DocumentsParams,
            RetryPolicy(max_retries=1),
            3600,
            "批量处理PDF",
            "process a batch of PDFs",
        ),
        _spec("handle_failed_tasks", SweepParams, NO_RETRY, 120, "退件处理（扫描死信队列）", "sweep the dead-letter queue"),
        _spec("agent_chain", AgentParams, RetryPolicy(max_retries=1), 300, "三步推理链（SSE）", "3-step agent chain (SSE)"),
        _spec("summarize", SummaryParams, RetryPolicy(max_retries=2), 120, "写摘要（数据库轮询）", "write a summary (polling)"),
    )
}

ALLOWED_FUNCS: frozenset[str] = frozenset(spec.func for spec in CATALOGUE.values())


def get_spec(name: str) -> TaskSpec:
    """The catalogue entry for ``name``, or :class:`UnknownTask` with the list of known names."""
    try:
        return CATALOGUE[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(CATALOGUE))
        raise UnknownTask(f"unknown task {name!r}; the catalogue has: {known}") from None


def task_name_of(func_name: str) -> str | None:
    """The catalogue name of an RQ ``func_name``, or None if it is not allowed."""
    if func_name not in ALLOWED_FUNCS:
        return None
    return func_name.rsplit(".", 1)[-1]
