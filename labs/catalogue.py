"""The task catalogue: the allow-list of jobs the lab runs, and what each one takes.

:data:`CATALOGUE` maps a public task name to the dotted import path of its job
body (a plain function in the :mod:`labs.tasks` package), its parameter model,
its default retry policy and its timeout. This module imports no job body, so
everything that only needs to *know* a task (submit, the API's schema, the
dashboard's form, the worker's allow-list) stays light and free of cycles.
Nothing outside the catalogue can be enqueued through the lab, and the worker
refuses a job whose function is not in it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticSerializationError

from .document_folders import inside_lab
from .errors import InvalidParams, UnknownTask
from .retry import NO_RETRY, RetryPolicy

BODIES = "labs.tasks"
"""The package of job bodies; a spec's ``func`` is ``labs.tasks.<family>.<name>``."""


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


JobRef = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[\w.-]+$")]


class BatchSummaryParams(_Params):
    batch: JobRef
    jobs: list[JobRef] = Field(..., min_length=1, max_length=1000)
    wait: float = Field(600, ge=0, le=86400)


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


def _spec(name: str, family: str, params: type[BaseModel], retry: RetryPolicy, timeout: float) -> TaskSpec:
    """A catalogue entry; its title in each language is ``task.<name>`` in :mod:`labs.i18n`."""
    return TaskSpec(name, f"{BODIES}.{family}.{name}", params, retry, timeout)


CATALOGUE: dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        _spec("noop", "demo", NoopParams, NO_RETRY, 30),
        _spec("slow_task", "demo", SlowParams, NO_RETRY, 600),
        _spec("send_email", "demo", EmailParams, RetryPolicy(max_retries=3), 30),
        _spec("risky_task", "demo", RiskyParams, RetryPolicy(max_retries=3), 30),
        _spec("process_document", "documents", DocumentParams, RetryPolicy(max_retries=2), 300),
        _spec("process_documents", "documents", DocumentsParams, RetryPolicy(max_retries=1), 3600),
        _spec("summarize_batch", "documents", BatchSummaryParams, NO_RETRY, 900),
        _spec("handle_failed_tasks", "dead_letters", SweepParams, NO_RETRY, 120),
        _spec("agent_chain", "agent", AgentParams, RetryPolicy(max_retries=1), 300),
        _spec("summarize", "summaries", SummaryParams, RetryPolicy(max_retries=2), 120),
    )
}

OLD_FUNCS: dict[str, str] = {f"{BODIES}.{name}": spec.func for name, spec in CATALOGUE.items()}
"""Where each body lived before the catalogue and the bodies were split (``labs.tasks.<name>``).

Jobs that an older lab left in Redis name these paths; the worker still runs
them (``labs.tasks`` resolves the old names lazily, and the allow-list knows them).
"""

ALLOWED_FUNCS: frozenset[str] = frozenset(spec.func for spec in CATALOGUE.values()) | frozenset(OLD_FUNCS)


def get_spec(name: str) -> TaskSpec:
    """The catalogue entry for ``name``, or :class:`UnknownTask` with the list of known names."""
    try:
        return CATALOGUE[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(CATALOGUE))
        raise UnknownTask(f"unknown task {name!r}; the catalogue has: {known}") from None


def task_name_of(func_name: str) -> str | None:
    """The catalogue name of a job's dotted function path (current or old), or None if it is not allowed."""
    if func_name not in ALLOWED_FUNCS:
        return None
    return func_name.rsplit(".", 1)[-1]


def body_modules() -> list[str]:
    """The modules that hold the catalogue's job bodies (a worker imports them once at start)."""
    return sorted({spec.func.rsplit(".", 1)[0] for spec in CATALOGUE.values()})
