"""Every checker against its reference solution, its untouched stub and plausible wrong answers.

A checker that cannot fail is a defect: each one must pass the solution, fail
the stub with "not written yet", and fail each wrong answer in
``tests/exercises/wrong/`` at the right check with the right hint. Nothing it
prints may contain a traceback.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

from labs.exercises.check import Report, check_module, format_report, run_exercise
from labs.exercises.checkers import EXERCISES, find
from labs.exercises.grading import NOT_WRITTEN

WRONG = Path(__file__).parent / "wrong"


def load_wrong(stem: str) -> ModuleType:
    """A wrong answer as an importable module (the worker imports job functions by name)."""
    name = f"exercise_wrong_{stem}"
    spec = importlib.util.spec_from_file_location(name, WRONG / f"{stem}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def failed(report: Report) -> dict[str, object]:
    """Failed checks by the English half of their name."""
    return {r.name.split(" / ")[-1]: r for r in report.failures}


def assert_readable(report: Report) -> str:
    text = format_report(report)
    assert "Traceback" not in text and 'File "' not in text
    for result in report.failures:
        assert result.lesson == report.exercise.lesson  # every failure points at its lesson
        assert f"see {result.lesson}" in text
    return text


@pytest.mark.parametrize("name", list(EXERCISES))
def test_reference_solution_passes_every_check(name: str) -> None:
    report = run_exercise(EXERCISES[name], solution=True)
    assert report.passed, format_report(report, solution=True)
    assert len(report.results) >= 4


@pytest.mark.parametrize("name", list(EXERCISES))
def test_untouched_stub_fails_with_not_written_yet(name: str) -> None:
    report = run_exercise(EXERCISES[name])
    assert not report.passed
    first = report.results[0]
    assert not first.passed
    assert NOT_WRITTEN in first.message and f"labs/exercises/{name}.py" in first.message
    assert "NotImplementedError" in first.hint
    assert report.not_run >= 3  # the rest wait until it is written
    text = assert_readable(report)
    assert "checks passed" in text


# (wrong answer, the check it must fail, a phrase its hint must contain)
WRONG_ANSWERS = [
    ("ex01_nocap", "no wait exceeds the cap", "min(cap, base * factor ** n)"),
    ("ex02_from_zero", "one report per parcel", "enumerate(parcels, start=1)"),
    ("ex02_at_end", "progress arrives while the job works", "not at the end"),
    ("ex03_retry_all", "poison reaches the DLQ after one delivery", "raise PermanentError"),
    ("ex03_lost_message", "the dead letter says what was wrong", "raise PermanentError(str(exc)) from exc"),
    ("ex04_retry_from_failed", "terminal states are final", "a retry is running → pending"),
    ("ex05_from_start", "resume after Last-Event-ID: no gap, no duplicate", "start after last_event_id"),
    ("ex05_no_wait", "live: new events are pushed while the job runs", "asyncio.sleep(poll)"),
    ("ex06_fixed_delay", "the waits grow while the server is down", "min(cap, base * 2 ** n)"),
    ("ex06_no_resume", "each new connection resumes after the last event", "the id of the last event received"),
    ("ex06_no_dedupe", "every event, once, in order", "skip an id you already have"),
    ("ex07_no_fix", "the redriven parcels are delivered", "pass the corrected params"),
    ("ex08_always_websocket", "the seed's advice", "one-way push is enough"),
    ("ex08_rq_everywhere", "the engine you chose meets each need, measured", "ARQ's event loop waits on max_jobs"),
    ("ex08_async_is_fastest", "the engine you chose meets each need, measured", "ARQ looks at its queue every 0.5 s"),
    ("ex09_no_wait", "after a 429, wait as long as Retry-After says", 'read response.headers["Retry-After"]'),
    ("ex09_retry_everything", "a 422 is not retried: waiting cannot fix bad params", "retry a 429 only"),
    ("ex09_skips_refused", "every job accepted, each once, in order", "submit a refused (429) job again"),
]


@pytest.mark.parametrize(("stem", "check", "hint"), WRONG_ANSWERS, ids=[w[0] for w in WRONG_ANSWERS])
def test_plausible_wrong_answer_fails_with_the_right_hint(stem: str, check: str, hint: str) -> None:
    exercise = find(stem[:4])
    assert exercise is not None
    report = check_module(exercise, load_wrong(stem))
    failures = failed(report)
    assert check in failures, format_report(report)
    assert hint in failures[check].hint, failures[check]
    assert_readable(report)
    passed = [r for r in report.results if r.passed]
    assert passed, "a wrong answer that is right elsewhere should pass some checks"


def test_every_exercise_has_a_wrong_answer() -> None:
    assert {find(stem[:4]).name for stem, _, _ in WRONG_ANSWERS} == set(EXERCISES)


def test_a_bug_is_reported_in_one_line_with_where_it_happened() -> None:
    report = check_module(EXERCISES["ex01_backoff"], load_wrong("ex01_typo"))
    first = report.results[0]
    assert not first.passed
    assert first.message.startswith("TypeError: unsupported operand")
    assert "tests/exercises/wrong/ex01_typo.py" in first.message and "line 7" in first.message
    assert first.hint  # never a bare error
    assert_readable(report)


def test_an_endless_loop_is_stopped_and_named(monkeypatch: pytest.MonkeyPatch) -> None:
    import labs.exercises.checkers.ex08_choose as checker

    monkeypatch.setattr(checker, "LIMIT", 0.5)
    report = check_module(EXERCISES["ex08_choose"], load_wrong("ex08_endless"))
    assert [r.passed for r in report.results] == [False]
    assert "endless loop" in report.results[0].message
    assert report.not_run == 6  # it stops there instead of waiting again for every check
    assert_readable(report)


def test_a_renamed_function_is_named_not_a_crash() -> None:
    module = ModuleType("exercise_renamed")
    module.backoff = lambda retries: []  # the student renamed backoff_delays
    report = check_module(EXERCISES["ex01_backoff"], module)
    [result] = report.results
    assert not result.passed and "has no backoff_delays" in result.message
    assert_readable(report)
