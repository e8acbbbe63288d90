"""``python -m labs check`` (for now ``python -m labs.exercises``): names, exit codes, output, a stubs-only handout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from labs.exercises.check import main
from labs.exercises.checkers import EXERCISES, find
from labs.exercises.grading import NOT_WRITTEN
from labs.settings import REPO_ROOT

NAMES = [
    ("ex01", "ex01_backoff"),
    ("1", "ex01_backoff"),
    ("backoff", "ex01_backoff"),
    ("ex05_sse_resume.py", "ex05_sse_resume"),
    ("08", "ex08_choose"),
    ("nope", None),
]


@pytest.mark.parametrize(("name", "want"), NAMES)
def test_exercise_names(name: str, want: str | None) -> None:
    found = find(name)
    assert (found.name if found else None) == want


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in EXERCISES)


def test_solution_passes_and_stub_fails_with_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ex08", "--solution"]) == 0
    out = capsys.readouterr().out
    assert "7/7 checks passed" in out and "参考答案 / reference solution" in out
    assert main(["ex08", "ex01"]) == 1
    captured = capsys.readouterr()
    assert captured.out.count(NOT_WRITTEN) == 2
    assert "Traceback" not in captured.out + captured.err


def test_unknown_exercise_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ex99"]) == 2
    err = capsys.readouterr().err
    assert "no exercise called 'ex99'" in err and "ex01_backoff" in err


def test_a_stubs_only_handout_checks_with_no_set_up(tmp_path: Path) -> None:
    """Copy the lab without the solutions; with no broker running, `check all` reports every stub kindly."""
    copy = tmp_path / "handout"
    shutil.copytree(REPO_ROOT / "labs", copy / "labs", ignore=shutil.ignore_patterns("solutions", "__pycache__"))
    (copy / "labs" / "exercises" / "ex04_states.py").write_text("def can_follow(previous, state)\n    return True\n")
    env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "PYTHONPATH"}}
    env["LAB_STATE_DIR"] = str(tmp_path / "state")

    def check(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [sys.executable, "-m", "labs.exercises", *args]
        return subprocess.run(cmd, cwd=copy, env=env, capture_output=True, text=True, timeout=180)

    done = check("all")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    assert done.stdout.count(NOT_WRITTEN) == len(EXERCISES) - 1
    assert "SyntaxError" in done.stdout and "labs/exercises/ex04_states.py, line 1" in done.stdout
    assert f"0/{len(EXERCISES)} exercises fully passed" in done.stdout
    assert not (tmp_path / "state" / "broker.url").exists()  # its private broker is not advertised to the class

    solution = check("ex01", "--solution")
    assert solution.returncode == 1
    assert "the reference solutions are not in this copy" in solution.stdout
    assert "Traceback" not in solution.stdout + solution.stderr
