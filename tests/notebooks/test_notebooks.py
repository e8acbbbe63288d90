"""The lesson notebooks: stored clean and bilingual, built from their sources, and run top to bottom.

Static checks read every ``notebooks/NN_*.ipynb``. The execution test runs each
one with nbclient in a fresh ``python3`` kernel (cwd ``notebooks/``), once on the
embedded broker the notebooks start themselves and once on a real Redis server
(``LAB_TEST_REDIS_URL``, default ``redis://127.0.0.1:6379/<LAB_TEST_REDIS_DB, 15>``, flushed first;
skipped locally without one, required in CI). Every notebook checks its own
results with ``assert``; on top of that the test looks in its outputs for the
evidence that the real thing happened.
"""

from __future__ import annotations

import ast
import contextlib
import importlib
import importlib.util
import io
import json
import os
import re
import shlex
import sys
import time
import tokenize
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
import redis
from nbclient import NotebookClient

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = REPO / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
IDS = [path.stem for path in NOTEBOOKS]
_DB = int(os.environ.get("LAB_TEST_REDIS_DB", "15")) - int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
REAL_REDIS_URL = os.environ.get("LAB_TEST_REDIS_URL", f"redis://127.0.0.1:6379/{_DB}")  # as tests/conftest.py counts
KERNEL_TIME_SCALE = "0.02"
CELL_TIMEOUT = 180

CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]")
ENGLISH_RUN = re.compile(r"\b[A-Za-z][a-z]+(?:[ ,;:'()-]+[A-Za-z][a-z]*){3,}")
FENCED = re.compile(r"```.*?```", re.S)
INLINE = re.compile(r"`([^`\n]+)`")




def load(path: Path) -> nbformat.NotebookNode:
    return nbformat.read(path, as_version=4)


def markdown_cells(path: Path) -> list[str]:
    return [cell.source for cell in load(path).cells if cell.cell_type == "markdown"]


def code_cells(path: Path) -> list[str]:
    return [cell.source for cell in load(path).cells if cell.cell_type == "code"]


# --------------------------------------------------------------------------- the set


def test_the_lessons_are_00_to_13() -> None:
    assert [path.name[:2] for path in NOTEBOOKS] == [f"{n:02d}" for n in range(14)]


def test_the_notebooks_are_built_from_their_sources() -> None:
    spec = importlib.util.spec_from_file_location("build", NOTEBOOK_DIR / "_build" / "build.py")
    build = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(build)

    assert build.build(check=True) == [], "run: .venv/bin/python notebooks/_build/build.py"
    assert sorted(p.stem for p in (NOTEBOOK_DIR / "_build" / "src").glob("*.txt")) == IDS


def test_the_readme_lists_every_lesson() -> None:
    readme = (NOTEBOOK_DIR / "README.md").read_text(encoding="utf-8")
    for path in NOTEBOOKS:
        assert path.name in readme, path.name


# --------------------------------------------------------------------------- stored clean


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_stored_without_outputs_on_the_python3_kernel(path: Path) -> None:
    nb = load(path)
    nbformat.validate(nb)
    assert nb.metadata.kernelspec.name == "python3"
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, cell.source[:60]
        assert not cell.get("attachments"), cell.source[:60]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_every_markdown_cell_speaks_both_languages(path: Path) -> None:
    for text in markdown_cells(path):
        prose = INLINE.sub(" ", FENCED.sub(" ", text))
        assert CJK.search(prose), f"no 中文 in: {text[:80]!r}"
        assert ENGLISH_RUN.search(prose), f"no English sentence in: {text[:80]!r}"
        first_cjk, first_english = CJK.search(prose).start(), ENGLISH_RUN.search(prose).start()
        title = prose.lstrip().startswith("#")
        assert title or first_cjk <= first_english, f"中文 first, then English: {text[:80]!r}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_set_up_first_clean_up_last(path: Path) -> None:
    code = code_cells(path)
    assert not any("sys.path" in source for source in code), "the lab is installed (pip install -e .): no sys.path edits"
    setup = next(source for source in code if "LabSession(" in source)
    assert setup.index('os.environ.setdefault("LAB_TIME_SCALE"') < setup.index(".start()")
    assert "atexit.register(lab.stop)" in setup
    assert code[-1].splitlines()[-2:] == [
        "lab.stop()  # 配送员下班 / the workers stop",
        "# from labs.broker import stop_background_broker; stop_background_broker()",
    ]
    if any("ApiServer(" in source for source in code):
        assert "api.stop()" in code[-1]
    asserts = sum(len(re.findall(r"^\s*assert ", source, re.M)) for source in code)
    assert asserts >= 3, "a lesson checks what it shows"
    for source in code:
        ast.parse(source.replace("await ", ""))  # top-level await is fine in a notebook


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_ends_with_exercises_that_exist(path: Path) -> None:
    from labs.exercises.checkers import find

    markdown = "\n".join(markdown_cells(path))
    assert "## 练习 · Exercises" in markdown
    for name in re.findall(r"python -m labs check (\w+)", markdown):
        assert name in {"all"} or find(name) is not None, f"no exercise {name!r}"


@pytest.mark.parametrize("path", [p for p in NOTEBOOKS if p.stem[:2] not in {"11", "12"}], ids=lambda p: p.stem)
def test_each_analogy_says_where_it_breaks(path: Path) -> None:
    """Every lesson built on an analogy says, in both languages, where the analogy stops holding (11, 12: none of their own)."""
    intro = markdown_cells(path)[0]
    box = next((line for line in intro.splitlines() if line.startswith("> 类比的边界 · where the analogy breaks")), "")
    assert box and CJK.search(box) and ENGLISH_RUN.search(box), f"{path.name}: no 类比的边界 box in its first cell"


# --------------------------------------------------------------------------- the text names real things


def _lab_vocabulary() -> set[str]:
    """The lab's own names: identifiers in labs/, whole-identifier string literals, ``names`` in its docstrings."""
    from rq.job import JobStatus

    from labs import catalogue, events, states

    words: set[str] = set()
    for source in (REPO / "labs").rglob("*.py"):
        with open(source, "rb") as handle:
            for token in tokenize.tokenize(handle.readline):
                if token.type == tokenize.NAME:
                    words.add(token.string)
                elif token.type == tokenize.STRING:
                    try:
                        value = ast.literal_eval(token.string)
                    except (ValueError, SyntaxError):
                        continue
                    if isinstance(value, str):
                        words.update(re.findall(r"``(\w+)``", value))
                        if re.fullmatch(r"\w+", value):
                            words.add(value)
    words.update(events.EVENT_TYPES, (s.value for s in states.State), [states.UNKNOWN], catalogue.CATALOGUE)
    words.update(s.value for s in JobStatus)
    return words


WEB_WORDS = {"undefined", "python3"}
"""Words the prose may name that are neither the lab's nor in the lesson's code."""


def _lesson_code_names(path: Path) -> set[str]:
    """Identifiers in the lesson's code: its code cells and the code blocks (``` or <pre>) of its markdown."""
    code = code_cells(path)
    for text in markdown_cells(path):
        code += re.findall(r"```.*?```|<pre>.*?</pre>", text, re.S)
    return set(re.findall(r"[A-Za-z_]\w*", "\n".join(code)))


def _command_parses(parser: Any, args: list[str]) -> bool:
    """Whether ``python -m labs <args>`` is a valid command (a bare subcommand may leave out its job id)."""
    for attempt in (args, [*args, "0123abcd"]):
        try:
            with contextlib.redirect_stderr(io.StringIO()):
                parser.parse_args(attempt)
            return True
        except SystemExit:
            continue
    return False


def _api_paths() -> set[str]:
    from labs.lessons.show import api_paths

    from labs.api import create_app

    return {re.sub(r"\{[^}]*\}", "{}", p.split(" ", 1)[1]) for p in api_paths(create_app())}


def _resolves(dotted_name: str) -> bool:
    """Whether ``labs.x.y`` (a module, then attributes) exists."""
    parts = dotted_name.removesuffix("()").split(".")
    for cut in range(len(parts), 0, -1):
        try:
            target: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            target = getattr(target, attr, None)
        return target is not None
    return False


def _is_real(token: str, vocabulary: set[str], paths: set[str]) -> bool:
    from labs.cli import build_parser

    api = re.fullmatch(r"(?:(?:GET|POST|DELETE|PUT|WS) )?(/[\w/{}.-]*)(?:\?\S*)?", token)
    if api:
        return re.sub(r"\{[^}]*\}", "{}", api.group(1)) in paths | {"/docs"}
    if re.fullmatch(r"[a-z][a-z0-9]*(?:_[a-z0-9]+)+|[a-z]{3,}", token):
        return token in vocabulary
    if re.fullmatch(r"labs(?:\.\w+)+(?:\(\))?", token):
        return _resolves(token)
    if re.fullmatch(r"(?:labs|notebooks|benchmarks|tests)/[\w/.]+|app\.py", token):
        return (REPO / token).exists()
    if token.startswith("python -m labs "):
        return _command_parses(build_parser(), shlex.split(token)[3:])
    return True  # code of another kind (an expression, a JSON value): not a name to check


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_names_in_the_text_are_the_labs_names(path: Path) -> None:
    """Backticked event names, states, modules, files, commands and API paths in the prose all exist.

    A name counts as real when the lab's code has it, or the lesson's own code uses it.
    """
    vocabulary, paths = _lab_vocabulary() | _lesson_code_names(path) | WEB_WORDS, _api_paths()
    tokens = [t.strip() for text in markdown_cells(path) for t in INLINE.findall(FENCED.sub(" ", text))]
    unknown = [token for token in tokens if not _is_real(token, vocabulary, paths)]
    assert unknown == [], f"{path.name} names things the lab does not have: {unknown}"


# --------------------------------------------------------------------------- run them

EVIDENCE: dict[str, list[str]] = {
    "00_why_background": [
        r"final state: completed, result: \{'steps': 10\}",
        r"submit\(\) returned [\d.]+ s before the job completed",
    ],
    "01_task_queue": [
        r"RQ says: Functions from the __main__ module cannot be processed",
        r"waiting in the queue  : \['[0-9a-f]{32}'",
        r"delivered by: \{'fork-\w+': \d+, 'fork-\w+': \d+\}",
    ],
    "02_task_states": [r"state path  : \['pending', 'running', 'completed'\]", r"late event appended as: \('', 0\)"],
    "03_progress": [r"20 progress events", r"indexed: 6 \| failed: \[\{'document': 'lesson03/broken-001.pdf'"],
    "04_retries": [
        r"attempts: 4 \| booked waits \(demo s\): \[1\.0, 2\.0, 4\.0\]",
        r"(started → retry_scheduled → ){3}started → failed → dead_lettered",
    ],
    "05_dead_letter_queue": [
        r"poison   : failed    after 3 attempt",
        r"second sweep: saw \d+, logged 0",
        r"original's last event: redriven",
    ],
    "06_timeouts": [
        r"enqueued → started → timed_out → failed → dead_lettered",
        r"\+\s*[\d.]+ s  abandoned",
        r"forced stop: failed \(cancelled\)",
        r"cooperative stop: failed \(cancelled\)",
    ],
    "07_websocket": [
        r"line dropped \(code 1012\)",
        r"received (\d+) events, the log has \1; duplicates: 0",
        r"after the freeze: close code None, still listening: True, ended: no",
        r"(interval [\d.]+ s: dead line detected after 2 unanswered pings.*\n){3}",
    ],
    "08_sse": [
        r"signal lost \(\w+\)",
        r"heard (\d+) events, the log has \1; duplicates: 0",
        r"reconnect after the end -> 204",
    ],
    "09_comparison": [r"cut [1-9]\d* connections", r"WebSocket\s+(\d+)/\1", r"polling\s+(\d+)/\1"],
    "10_celery_arq_rq": [
        r"enqueued\s+enqueued outside the lab",
        r"then -> finished delivered later",
        r"runs async def jobs: True",
        r"ARQ   : \w+ queued -> ana@example\.com complete",
        r"Celery: \w[\w-]+ \w+ -> ana@example\.com SUCCESS",
        r"arq\s+planned waits \[1\.0, 2\.0\]",
        r"arq\s+cancel -> cancelled",
        r"I/O-bound: rq [\d.]+ waits, celery [\d.]+ waits, arq [\d.]+ waits for 100 jobs",
    ],
    "11_scenarios": [
        r"with the non-PDF: 415",
        r"'total': 101, 'completed': 100, 'failed': 1, 'percent': 100\.0",
        r"close code: 1000",
        r"summary \(chord\): 100 of 101 files indexed \(\d+ chunks\), 1 failed: [\w-]+broken-001\.pdf: DocumentError",
        r"arq   : start → retrieve → analyse → answer \(completed\)",
        r"celery: start → retrieve → analyse → answer \(completed\)",
        r"\d+ polls",
        r"written by: \['simple-\w+'",
        r"fastembed:all-MiniLM-L6-v2-int8: the right handbook first for [45] of 5 paraphrases",
    ],
    "12_review": [r"q12: observed 'arq'", r"I/O-bound waits per engine: .* from lesson 10's race", r"q4: observed 4\b", r"q7: observed False .*✅", r"replayed path: pending → running → completed"],
    "13_backpressure": [
        r"no limit: deepest queue \d+ jobs",
        r"Little predicts a wait of [\d.]+ s",
        r"it really waited [\d.]+ s",
        r"chart font: Noto Sans CJK",
        r"depth limit 5: deepest queue [0-5], refused at the door: [1-9]\d* of 40",
        r"429, Retry-After: \d+ \| queue depth limit",
        r"polite: .*429 wait \d+ s.* 202",
    ],
}


def _redis_available() -> bool:
    try:
        redis.Redis.from_url(REAL_REDIS_URL, socket_connect_timeout=1).ping()
    except redis.exceptions.RedisError:
        return False
    return True


def _student_env(root: Path, redis_url: str | None) -> dict[str, str]:
    """A student's machine in ``root``: its own home and state folder, the lab's queue (``LAB_QUEUE`` unset)."""
    (root / "home").mkdir()
    (root / "state").mkdir()
    env = {key: value for key, value in os.environ.items() if key not in {"REDIS_URL", "LAB_QUEUE"}}
    env.update(HOME=str(root / "home"), LAB_STATE_DIR=str(root / "state"), LAB_TIME_SCALE=KERNEL_TIME_SCALE,
               LAB_EMBEDDER="fallback", MPLBACKEND="module://matplotlib_inline.backend_inline")  # fmt: skip
    if redis_url:
        if not _redis_available():
            if os.environ.get("CI"):
                pytest.fail(f"no Redis server at {REAL_REDIS_URL} (CI must start one)")
            pytest.skip(f"no Redis server at {REAL_REDIS_URL}")
        redis.Redis.from_url(redis_url).flushdb()
        env["REDIS_URL"] = redis_url
    return env


@pytest.fixture(scope="module", params=["embedded", "redis"])
def lesson_env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """One student's machine per broker: the notebooks run in order and share its state folder."""
    env = _student_env(tmp_path_factory.mktemp(f"lessons-{request.param}"), REAL_REDIS_URL if request.param == "redis" else None)
    yield env
    with pytest.MonkeyPatch.context() as mp:  # stop the background broker the notebooks started
        mp.setenv("LAB_STATE_DIR", env["LAB_STATE_DIR"])
        from labs.broker import stop_background_broker

        stop_background_broker()


def _text_outputs(nb: nbformat.NotebookNode) -> str:
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                parts.append(output.text)
            elif output.output_type in {"execute_result", "display_data"}:
                parts.append(output.data.get("text/plain", ""))
                parts.append(output.data.get("text/html", ""))
            elif output.output_type == "error":
                parts.append(f"ERROR {output.ename}: {output.evalue}")
    return "\n".join(parts)


@pytest.mark.slow
@pytest.mark.timeout(600)
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_the_lesson_runs_top_to_bottom(path: Path, lesson_env: dict[str, str], lesson_time) -> None:
    nb = load(path)
    client = NotebookClient(nb, kernel_name="python3", timeout=CELL_TIMEOUT, resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    started = time.monotonic()
    client.execute(cwd=str(NOTEBOOK_DIR), env=lesson_env)  # raises CellExecutionError on a failing cell or assert
    seconds = time.monotonic() - started
    text = _text_outputs(nb)
    assert "ERROR" not in {line.split(" ", 1)[0] for line in text.splitlines()}
    for pattern in EVIDENCE[path.stem]:
        assert re.search(pattern, text), f"{path.name}: no output matching {pattern!r}"
    images = sum("image/png" in o.get("data", {}) for cell in nb.cells for o in cell.get("outputs", []))
    charts = sum("plt.show()" in source for source in code_cells(path))
    assert images >= charts, "every chart was drawn"
    broker = "redis" if "REDIS_URL" in lesson_env else "embedded"
    print(json.dumps({"notebook": path.name, "broker": broker, "seconds": round(seconds, 1)}))
    lesson_time(broker, path.name, seconds)


BACKLOG = 5000


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_a_lesson_finishes_while_5000_jobs_wait_in_the_lab_queue(tmp_path: Path) -> None:
    """Lesson 04 once failed behind 5,525 jobs an API client had left in the lab's queue (issue 17).

    Its LabSession now has a queue of its own: the lesson runs as on an empty broker, and the backlog
    (real RQ jobs, enqueued in one pipeline, no worker on the lab's queue) is neither run nor touched.
    """
    from rq import Queue

    from labs.task_queue import lab_queue

    (tmp_path / "student").mkdir()
    env = _student_env(tmp_path / "student", REAL_REDIS_URL)
    conn = redis.Redis.from_url(REAL_REDIS_URL)
    queue = lab_queue(conn, "lab")
    with conn.pipeline(transaction=False) as pipe:
        data = [Queue.prepare_data("labs.tasks.demo.send_email", kwargs={"to": f"{n}@example.com"}) for n in range(BACKLOG)]
        queue.enqueue_many(data, pipeline=pipe)
        pipe.execute()
    path = NOTEBOOK_DIR / "04_retries.ipynb"
    nb = load(path)
    client = NotebookClient(nb, kernel_name="python3", timeout=CELL_TIMEOUT, resources={"metadata": {"path": str(NOTEBOOK_DIR)}})
    client.execute(cwd=str(NOTEBOOK_DIR), env=env)  # raises CellExecutionError on a failing cell or assert
    text = _text_outputs(nb)
    for pattern in EVIDENCE[path.stem]:
        assert re.search(pattern, text), f"{path.name}: no output matching {pattern!r}"
    assert queue.count == BACKLOG
