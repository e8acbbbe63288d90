"""How a checker reports: a list of named checks, each passed or failed with a kind hint.

A checker never lets an exception escape and never prints a traceback. It runs
its checks one after another with :meth:`Grader.check`:

- the check returns: passed;
- it raises :class:`Fail`: failed, with what happened and what to try;
- the student's code raises ``NotImplementedError``: "not written yet", and the
  remaining checks wait until it is written;
- anything else: failed, with the exception in one line and where in the
  student's file it happened.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from ..settings import REPO_ROOT

NOT_WRITTEN = "还没写 / not written yet"
TRY_IT = "读一读这一行；也可以在 Python 里直接调用你的函数试试 / read that line; try calling your function in Python"
ENDLESS = "检查一下循环能不能结束 / check that every loop ends (and every wait has a limit)"


@dataclass
class CheckResult:
    """One check: its name, whether it passed, and for a failure what happened and a hint."""

    name: str
    passed: bool
    message: str = ""
    hint: str = ""
    lesson: str = ""

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "passed": self.passed, "message": self.message, "hint": self.hint, "lesson": self.lesson}


class Fail(Exception):
    """Raised by a check: ``message`` says what happened, ``hint`` (optional) what to try."""

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class NotWritten(Exception):
    """The student's ``func`` still raises ``NotImplementedError`` (seen inside a job, for example)."""

    def __init__(self, func: str) -> None:
        super().__init__(func)
        self.func = func


class CheckTimeout(BaseException):
    """A check ran past its time limit (an endless loop, or a wait that never ends).

    A ``BaseException``, so that a student's ``except Exception:`` cannot swallow it.
    """


def expect(condition: object, message: str, hint: str = "") -> None:
    """Fail with ``message`` (and ``hint``) unless ``condition`` holds."""
    if not condition:
        raise Fail(message, hint)


def short(value: object, limit: int = 160) -> str:
    """``repr(value)`` cut to one readable line."""
    text = " ".join(repr(value).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def display_path(path: str | Path | None) -> str:
    """A path relative to the repository when it is inside it."""
    if not path:
        return "?"
    path = Path(path).resolve()
    with contextlib.suppress(ValueError):
        return str(path.relative_to(REPO_ROOT))
    return str(path)


def one_line(exc: BaseException) -> str:
    """``TypeError: message`` on one line."""
    text = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def where(exc: BaseException, module: ModuleType | None) -> tuple[str, int] | None:
    """(function, line) of the deepest frame of ``exc`` inside the student's file."""
    filename = getattr(module, "__file__", None)
    if not filename:
        return None
    target = str(Path(filename).resolve())
    found = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if str(Path(frame.filename).resolve()) == target:
            found = (frame.name, frame.lineno or 0)
    return found


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Raise :class:`CheckTimeout` after ``seconds`` (main thread on Unix only; otherwise no limit)."""
    usable = seconds and hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def on_alarm(signum: int, frame: object) -> None:
        raise CheckTimeout(f"still running after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    outer, _ = signal.setitimer(signal.ITIMER_REAL, seconds)  # an outer timer (pytest-timeout, say) is put back after
    started = time.monotonic()
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer:
            signal.setitimer(signal.ITIMER_REAL, max(0.001, outer - (time.monotonic() - started)))


@dataclass
class Grader:
    """Runs one exercise's checks against ``module`` (the student's file or a reference solution)."""

    module: ModuleType
    lesson: str
    results: list[CheckResult] = field(default_factory=list)
    not_run: int = 0
    stopped: bool = False

    @property
    def file(self) -> str:
        return display_path(getattr(self.module, "__file__", None))

    def check(self, name: str, hint: str = "", limit: float | None = None) -> Callable[[Callable[[], object]], None]:
        """Decorator that runs the check at once and records its result.

        ``hint`` is what to try when it fails with an unexpected error; a
        :class:`Fail` may bring a more specific one. ``limit`` caps how long a
        check of a plain function may run (checks that run jobs have their own).
        """

        def run(func: Callable[[], object]) -> None:
            if self.stopped:
                self.not_run += 1
                return
            try:
                with time_limit(limit):
                    func()
            except Fail as exc:
                self._record(name, False, exc.message, exc.hint or hint)
            except NotWritten as exc:
                self._not_written(name, exc.func)
            except NotImplementedError as exc:
                location = where(exc, self.module)
                self._not_written(name, location[0] if location else "")
            except CheckTimeout as exc:
                self._record(name, False, f"{exc} (an endless loop?)", ENDLESS)
                self.stopped = True  # the next checks would only wait as long again
            except Exception as exc:  # the student's code may raise anything: report it in one line
                location = where(exc, self.module)
                at = f" ({self.file}, {location[0]}(), line {location[1]})" if location else ""
                self._record(name, False, f"{one_line(exc)}{at}", hint or TRY_IT)
            else:
                self._record(name, True)

        return run

    def _record(self, name: str, passed: bool, message: str = "", hint: str = "") -> None:
        self.results.append(CheckResult(name, passed, message, hint, "" if passed else self.lesson))

    def _not_written(self, name: str, func: str) -> None:
        what = f"{func}() in {self.file}" if func else self.file
        self._record(
            name, False, f"{NOT_WRITTEN}: {what} still raises NotImplementedError",
            "打开这个文件，把 raise NotImplementedError(...) 换成你的代码 / "
            "open the file and replace the raise NotImplementedError(...) line with your code",
        )  # fmt: skip
        self.stopped = True
