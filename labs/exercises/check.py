"""``python -m labs check``: check classroom exercises and say kindly what works and what to look at.

    python -m labs check --list              the exercises
    python -m labs check ex01                check labs/exercises/ex01_backoff.py
    python -m labs check all                 check every exercise
    python -m labs check ex01 --solution     check the reference solution instead

(``python -m labs.exercises ...`` does the same.) Exit status: 0 when every
check passed, 1 when some failed, 2 for a name that is not an exercise.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
import traceback
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from .checkers import EXERCISES, Exercise, find
from .grading import CheckResult, Grader, display_path, one_line

STUBS = "labs.exercises"
SOLUTIONS = "labs.exercises.solutions"


@dataclass
class Report:
    """The outcome of one exercise's checks."""

    exercise: Exercise
    file: str
    results: list[CheckResult] = field(default_factory=list)
    not_run: int = 0

    @property
    def passed(self) -> bool:
        return bool(self.results) and all(r.passed for r in self.results) and not self.not_run

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if not r.passed]


def load(exercise: Exercise, solution: bool = False) -> ModuleType:
    """The student's file, or the reference solution, freshly imported."""
    name = f"{SOLUTIONS if solution else STUBS}.{exercise.name}"
    module = sys.modules.get(name)
    return importlib.reload(module) if module is not None else importlib.import_module(name)


def check_module(exercise: Exercise, module: ModuleType) -> Report:
    """Run ``exercise``'s checks against ``module`` (any module with the exercise's functions)."""
    from .runner import check_environment  # imports RQ: only when something is checked

    checker = importlib.import_module(f"{__package__}.checkers.{exercise.name}")
    grader = Grader(module, exercise.lesson)
    missing = [name for name in checker.REQUIRED if not hasattr(module, name)]
    if missing:
        grader.results.append(
            CheckResult(
                "文件里的函数 / the file's functions",
                False,
                f"{grader.file} has no {', '.join(missing)}",
                "名字要和练习里的一样（改名或删掉了？） / keep the names the exercise gives (renamed or deleted?)",
                exercise.lesson,
            )
        )
        return Report(exercise, grader.file, grader.results)
    with check_environment():
        try:
            checker.check(module, grader)
        except Exception as exc:  # a checker bug must still not print a traceback wall
            grader.results.append(CheckResult("checker", False, one_line(exc), "please tell the instructor", exercise.lesson))
    return Report(exercise, grader.file, grader.results, grader.not_run)


def _import_location(exc: BaseException, exercise: Exercise) -> str:
    """ " (labs/exercises/ex01_backoff.py, line 12)" for an error raised while importing the file."""
    if isinstance(exc, SyntaxError) and exc.lineno:
        return f" ({display_path(exc.filename)}, line {exc.lineno})"
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if Path(f.filename).name == f"{exercise.name}.py"]
    return f" ({display_path(frames[-1].filename)}, line {frames[-1].lineno})" if frames else ""


def run_exercise(exercise: Exercise, solution: bool = False) -> Report:
    """Import the exercise's file (or its solution) and check it; an import error is one failed check."""
    try:
        module = load(exercise, solution)
    except Exception as exc:  # SyntaxError, a typo in an import, NameError at import time, ...
        if solution and isinstance(exc, ModuleNotFoundError) and (exc.name or "").startswith(SOLUTIONS):
            message = "the reference solutions are not in this copy of the lab (labs/exercises/solutions/)"
            hint = "老师发的练习不含参考答案 / the handout has no solutions: ask your instructor"
        else:
            message = f"{one_line(exc)}{_import_location(exc, exercise)}"
            hint = "先修好这个错误，文件才能运行 / fix this error first, so the file can run"
        result = CheckResult("文件能导入 / the file imports", False, message, hint, exercise.lesson)
        return Report(exercise, f"labs/exercises/{exercise.name}.py", [result])
    return check_module(exercise, module)


# --------------------------------------------------------------------------- output


def _marks() -> tuple[str, str]:
    encoding = getattr(sys.stdout, "encoding", None) or "ascii"
    try:
        "✓✗→".encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return "ok", "XX"
    return "✓", "✗"


def format_report(report: Report, solution: bool = False) -> str:
    ok, bad = _marks()
    ex = report.exercise
    which = "参考答案 / reference solution" if solution else report.file
    lines = [f"{ex.name}  {ex.title}", f"  {which}"]
    for result in report.results:
        if result.passed:
            lines.append(f"  {ok} {result.name}")
            continue
        lines.append(f"  {bad} {result.name}")
        if result.message:
            lines.append(f"      {result.message}")
        if result.hint:
            lines.append(f"      提示 / hint: {result.hint}")
        lines.append(f"      课程 / lesson: see {result.lesson or ex.lesson}")
    passed = sum(r.passed for r in report.results)
    total = len(report.results) + report.not_run
    if report.not_run:
        lines.append(f"  ({report.not_run} more check(s) will run once this is fixed / 改好后还会再检查 {report.not_run} 项)")
    verdict = "全部通过 / all passed" if report.passed else "继续加油 / keep going"
    lines.append(f"  {passed}/{total} checks passed — {verdict}")
    return "\n".join(lines)


def format_list() -> str:
    lines = ["练习 / exercises:"]
    for ex in EXERCISES.values():
        lines.append(f"  {ex.name:<17} {ex.title}")
        lines.append(f"  {'':<17} lesson: {ex.lesson}; checks run: {ex.runs}")
    lines.append("")
    lines.append("python -m labs check ex01   |   python -m labs check all   |   ... --solution")
    return "\n".join(lines)


def add_arguments(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """The arguments of ``check`` (also used by ``labs/cli.py``'s ``check`` subcommand)."""
    parser.add_argument("names", nargs="*", help='exercises: "ex01", "ex01_backoff", "1", "backoff", or "all"')
    parser.add_argument("--solution", action="store_true", help="check the reference solutions instead of your files")
    parser.add_argument("--list", action="store_true", help="list the exercises")
    return parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m labs check", description="检查课堂练习 / check classroom exercises")
    return add_arguments(parser)


def main(argv: Sequence[str] | None = None) -> int:
    """Check the named exercises; 0 when all checks pass, 1 when some fail, 2 for an unknown name."""
    return run(build_parser().parse_args(list(argv) if argv is not None else None))


def run(args: argparse.Namespace) -> int:
    """Run ``check`` with parsed arguments (``names``, ``solution``, ``list``)."""
    if args.list or not args.names:
        print(format_list())
        return 0
    if any(name.lower() == "all" for name in args.names):
        chosen = list(EXERCISES.values())
    else:
        chosen = []
        for name in args.names:
            exercise = find(name)
            if exercise is None:
                print(f"error: no exercise called {name!r} / 没有这个练习\n", file=sys.stderr)
                print(format_list(), file=sys.stderr)
                return 2
            if exercise not in chosen:
                chosen.append(exercise)
    if args.solution and importlib.util.find_spec(SOLUTIONS) is None:
        print("the reference solutions are not in this copy of the lab (labs/exercises/solutions/)")
        print("老师发的练习不含参考答案 / the handout has no solutions: ask your instructor")
        return 1
    reports = []
    for exercise in chosen:
        report = run_exercise(exercise, args.solution)
        reports.append(report)
        print(format_report(report, args.solution), flush=True)
        print()
    if len(reports) > 1:
        done = sum(r.passed for r in reports)
        print(f"{done}/{len(reports)} exercises fully passed / 完全通过的练习")
    return 0 if all(r.passed for r in reports) else 1
