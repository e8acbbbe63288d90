"""Build the lesson notebooks from their plain-text sources (notebooks/_build/src/*.txt).

    .venv/bin/python notebooks/_build/build.py          write notebooks/NN_*.ipynb
    .venv/bin/python notebooks/_build/build.py --check  exit 1 if a notebook differs from its source

A source is a sequence of cells, each introduced by a line ``%% md`` or ``%% code``.
The notebooks are written with no outputs, ``execution_count`` null and the
``python3`` kernelspec, with stable cell ids, so rebuilding changes nothing
unless a source changed.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SRC = HERE / "src"
OUT = HERE.parent

KERNELSPEC = {"name": "python3", "display_name": "Python 3", "language": "python"}
LANGUAGE_INFO = {"name": "python", "file_extension": ".py", "mimetype": "text/x-python"}


def parse(text: str) -> list[tuple[str, str]]:
    """The cells of a source as (kind, text) pairs."""
    cells: list[tuple[str, list[str]]] = []
    for line in text.splitlines():
        if line.startswith("%% "):
            kind = line[3:].strip()
            if kind not in {"md", "code"}:
                raise ValueError(f"unknown cell kind {kind!r}")
            cells.append((kind, []))
        elif cells:
            cells[-1][1].append(line)
        elif line.strip():
            raise ValueError("text before the first %% line")
    return [(kind, "\n".join(lines).strip("\n")) for kind, lines in cells]


def _source(text: str) -> list[str]:
    lines = text.split("\n")
    return [line + "\n" for line in lines[:-1]] + [lines[-1]]


def notebook(stem: str, text: str) -> dict:
    cells = []
    for index, (kind, body) in enumerate(parse(text)):
        cell = {"cell_type": "markdown" if kind == "md" else "code", "id": f"{stem[:2]}-{index:02d}", "metadata": {},
                "source": _source(body)}  # fmt: skip
        if kind == "code":
            cell.update(execution_count=None, outputs=[])
        cells.append(cell)
    return {
        "cells": cells,
        "metadata": {"kernelspec": KERNELSPEC, "language_info": LANGUAGE_INFO},
        "nbformat": 4,
        "nbformat_minor": 5,
    }


def render(stem: str, text: str) -> str:
    return json.dumps(notebook(stem, text), ensure_ascii=False, indent=1) + "\n"


def build(check: bool = False) -> list[str]:
    """Write (or, with ``check``, compare) every notebook; return the names that changed."""
    changed = []
    for src in sorted(SRC.glob("*.txt")):
        target = OUT / f"{src.stem}.ipynb"
        text = render(src.stem, src.read_text(encoding="utf-8"))
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            changed.append(target.name)
            if not check:
                target.write_text(text, encoding="utf-8")
    return changed


if __name__ == "__main__":
    check = "--check" in sys.argv[1:]
    names = build(check)
    if check and names:
        print("out of date (run notebooks/_build/build.py):", ", ".join(names))
        sys.exit(1)
    print(("up to date" if check else "built") + f": {len(list(SRC.glob('*.txt')))} notebooks, {len(names)} changed")
