"""The README's tables that are generated from the code, so they cannot drift from it.

A generated table sits between two markers in ``README.md``::

    <!-- generated: settings -->
    | variable | meaning | default |
    ...
    <!-- /generated: settings -->

:data:`TABLES` maps each name to the function that writes its markdown; to add
one, register it (``TABLES["name"] = function``, or ``@table("name")``) and put
the two markers in the README. ``python -m labs readme`` rewrites the README,
``python -m labs readme --check`` exits 1 when it is out of date (a test runs it).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic.fields import FieldInfo

from . import i18n
from .catalogue import CATALOGUE
from .errors import LabError
from .settings import REPO_ROOT, Settings

README = REPO_ROOT / "README.md"

TABLES: dict[str, Callable[[], str]] = {}
"""Generated tables: name -> a function returning the table's markdown."""

BLOCK = re.compile(r"(<!-- generated: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /generated: (?P=name) -->)", re.S)


def table(name: str) -> Callable[[Callable[[], str]], Callable[[], str]]:
    """Register a generated table under ``name`` (a decorator)."""

    def register(func: Callable[[], str]) -> Callable[[], str]:
        TABLES[name] = func
        return func

    return register


def _shown_default(field: FieldInfo) -> str:
    """A field's default as the README prints it."""
    extra = field.json_schema_extra
    if isinstance(extra, dict) and "shown" in extra:
        return str(extra["shown"])
    value: Any = field.default
    if value is None or value == "":
        return "unset"
    if value == ():
        return "none"
    if isinstance(value, bool):
        return "`1`" if value else "`0`"
    if isinstance(value, float):
        return f"`{value:g}`"
    return f"`{value}`"


@table("settings")
def settings_table() -> str:
    """Every environment variable the lab reads (:class:`labs.settings.Settings`)."""
    rows = ["| variable | meaning | default |", "|---|---|---|"]
    for field in Settings.model_fields.values():
        rows.append(f"| `{field.alias}` | {field.description} | {_shown_default(field)} |")
    return "\n".join(rows) + "\n"


@table("catalogue")
def catalogue_table() -> str:
    """The task catalogue (:data:`labs.catalogue.CATALOGUE`): what can be submitted, and where its body lives."""
    rows = ["| task | what it is | 中文 | job body | retries | timeout (demo s) |", "|---|---|---|---|---|---|"]
    for spec in CATALOGUE.values():
        zh, en = i18n.task_title(spec.name, "zh"), i18n.task_title(spec.name, "en")
        rows.append(f"| `{spec.name}` | {en} | {zh} | `{spec.func}` | {spec.retry.max_retries} | {spec.timeout:g} |")
    return "\n".join(rows) + "\n"


def _layers() -> list[list[str]]:
    """The layers of the import contract in ``pyproject.toml``, top first."""
    import tomllib

    contract = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    layers = contract["contracts"][0]["layers"]
    return [[name.strip() for name in re.split(r"[:|]", layer)] for layer in layers]


LAYER_NAMES = ("entry points", "services", "work", "runtime", "core")


@table("layers")
def layers_table() -> str:
    """The package's layers (the import contract) with each module's one-line docstring."""
    import importlib

    rows = ["| layer | module | what it is |", "|---|---|---|"]
    for label, names in zip(LAYER_NAMES, _layers(), strict=True):
        for n, name in enumerate(names):
            module = importlib.import_module(f"labs.{name}")
            doc = (module.__doc__ or "").strip().splitlines()
            path = f"labs/{name}/" if hasattr(module, "__path__") else f"labs/{name}.py"
            rows.append(f"| {label if n == 0 else ''} | `{path}` | {doc[0] if doc else ''} |")
    return "\n".join(rows) + "\n"


def render(text: str) -> str:
    """``text`` with every generated block rewritten from the code."""
    found = {match["name"] for match in BLOCK.finditer(text)}
    unknown = found - TABLES.keys()
    if unknown:
        raise LabError(f"the README has generated blocks no table is registered for: {', '.join(sorted(unknown))}")
    missing = TABLES.keys() - found
    if missing:
        names = ", ".join(f"<!-- generated: {name} -->" for name in sorted(missing))
        raise LabError(f"the README lacks the markers of registered tables: add {names} ... <!-- /generated: ... -->")
    return BLOCK.sub(lambda m: m[1] + TABLES[m["name"]]() + m[4], text)


def stale(path: Path = README) -> list[str]:
    """The names of the generated tables that differ in the file at ``path``."""
    text = path.read_text(encoding="utf-8")
    fresh = {m["name"]: m["body"] for m in BLOCK.finditer(render(text))}
    return [m["name"] for m in BLOCK.finditer(text) if fresh[m["name"]] != m["body"]]


def update(path: Path = README) -> list[str]:
    """Rewrite the generated tables in the file at ``path``; the names of those that changed."""
    changed = stale(path)
    if changed:
        path.write_text(render(path.read_text(encoding="utf-8")), encoding="utf-8")
    return changed
