"""The one settings module: typed fields, read freshly, one-line errors, cheap on hot paths."""

from __future__ import annotations

import ast
import os
import time
from pathlib import Path

import pytest

from labs import clock
from labs import settings as settings_module
from labs.settings import REPO_ROOT, VARIABLES, Settings, SettingsError, environment, settings, state_dir


def test_every_variable_is_one_field_with_a_meaning() -> None:
    assert len(VARIABLES) == len(set(VARIABLES)) == len(Settings.model_fields)
    for name, field in Settings.model_fields.items():
        assert field.alias and (
            field.alias.startswith("LAB_") or field.alias in {"REDIS_URL", "RQ_WORKER_ID", "FLOWER_BASIC_AUTH"}
        ), name
        assert field.description and "\n" not in field.description, name


def test_defaults_without_any_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    lab = settings()
    assert (lab.time_scale, lab.queue, lab.redis_url, lab.events_maxlen, lab.max_upload_mb) == (1.0, "lab", None, 200_000, 20.0)
    assert state_dir() == REPO_ROOT / ".lab"


def test_a_change_in_the_environment_is_seen_at_the_next_call(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_TIME_SCALE", "0.5")
    assert clock.scaled(4) == 2.0
    monkeypatch.setenv("LAB_TIME_SCALE", "0")
    assert clock.scaled(4) == 0.0
    monkeypatch.setenv("LAB_QUEUE", "other")
    assert settings_module.queue_name() == "other"
    monkeypatch.delenv("LAB_QUEUE")
    assert settings_module.queue_name() == "lab"
    assert settings() is settings()  # same values: the same (cached) settings


def test_lists_words_and_flags_are_parsed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_CORS_ORIGINS", " http://a.example, http://b.example ,")
    monkeypatch.setenv("LAB_DOCUMENT_ROOTS", os.pathsep.join(["/srv/pdfs", "", "/tmp/more"]))
    monkeypatch.setenv("LAB_EMBEDDER", " FastEmbed ")
    monkeypatch.setenv("LAB_API_ACCESS_LOG", "0")
    monkeypatch.setenv("LAB_API_URL", "http://api:8000/")
    monkeypatch.setenv("LAB_PARENT_PID", "4242")
    monkeypatch.setenv("LAB_QUEUE", "")  # empty counts as unset
    lab = settings()
    assert lab.cors_origins == ("http://a.example", "http://b.example")
    assert lab.document_roots == (Path("/srv/pdfs"), Path("/tmp/more"))
    assert (lab.embedder, lab.api_access_log, lab.api_url, lab.parent_pid, lab.queue) == (
        "fastembed", False, "http://api:8000", 4242, "lab"
    )  # fmt: skip


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("LAB_TIME_SCALE", "abc", "LAB_TIME_SCALE must be a number, got 'abc'"),
        ("LAB_TIME_SCALE", "-1", "LAB_TIME_SCALE must be >= 0, got '-1'"),
        ("LAB_EVENTS_MAXLEN", "1.5", "LAB_EVENTS_MAXLEN must be a whole number, got '1.5'"),
        ("LAB_MAX_UPLOAD_MB", "0", "LAB_MAX_UPLOAD_MB must be > 0, got '0'"),
        ("LAB_EMBEDDER", "gpu", "LAB_EMBEDDER must be 'auto', 'fastembed' or 'fallback', got 'gpu'"),
        ("LAB_API_ACCESS_LOG", "maybe", "LAB_API_ACCESS_LOG must be 1 or 0, got 'maybe'"),
    ],
)
def test_a_bad_value_is_one_line_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as info:
        settings()
    assert str(info.value) == message
    assert isinstance(info.value, ValueError)  # as labs.config's checks were
    monkeypatch.delenv(name)
    settings()  # fixed: fine again


def test_environment_sets_and_restores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_TIME_SCALE", "0.5")
    monkeypatch.delenv("LAB_QUEUE", raising=False)
    with environment(LAB_TIME_SCALE="0.01", LAB_QUEUE="q2"):
        assert (clock.time_scale(), settings().queue) == (0.01, "q2")
        with environment(LAB_QUEUE=None):
            assert settings().queue == "lab"
    assert (clock.time_scale(), settings().queue) == (0.5, "lab")
    assert settings_module.child_environment({"X_EXTRA": "1"})["LAB_TIME_SCALE"] == "0.5"


def test_the_fast_environment_read_agrees_with_the_public_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAB_QUEUE", "ünïcode-q")
    monkeypatch.delenv("LAB_LANG", raising=False)
    fast = settings_module._current()
    public = tuple(os.environ.get(name) for name in VARIABLES)
    decoded = tuple(v if v is None or isinstance(v, str) else os.fsdecode(v) for v in fast)
    assert decoded == public


def test_one_call_is_cheap() -> None:
    settings()
    calls = 20_000
    started = time.perf_counter()
    for _ in range(calls):
        settings()
    per_call = (time.perf_counter() - started) / calls
    assert per_call < 20e-6, f"settings() took {per_call * 1e6:.1f} µs a call"


def _reads_environment(node: ast.AST) -> bool:
    """``os.environ.get(...)``, ``os.getenv(...)``, ``os.environ[...]`` read, or ``{**os.environ}``."""
    if isinstance(node, ast.Call):
        return ast.unparse(node.func) in {"os.getenv", "os.environ.get"}
    if isinstance(node, ast.Subscript):
        return ast.unparse(node.value) == "os.environ" and isinstance(node.ctx, ast.Load)
    if isinstance(node, ast.Dict):
        return any(value is not None and ast.unparse(value) == "os.environ" for value in node.values)
    return False


def test_only_the_settings_module_reads_the_environment() -> None:
    """Other modules may set a variable, not read one (two are still being moved in other branches)."""
    still_moving: set[str] = set()
    readers = []
    for path in sorted((REPO_ROOT / "labs").rglob("*.py")):
        rel = path.relative_to(REPO_ROOT).as_posix()
        if rel == "labs/settings.py" or rel in still_moving:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        readers += [f"{rel}:{node.lineno}" for node in ast.walk(tree) if _reads_environment(node)]
    assert readers == []
