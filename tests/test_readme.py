"""The README's generated tables match the code (``python -m labs readme`` rewrites them)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from labs import readme
from labs.errors import LabError
from labs.settings import REPO_ROOT, VARIABLES


def test_the_readme_is_up_to_date() -> None:
    assert readme.stale(readme.README) == [], "the README's generated tables are out of date: run `python -m labs readme`"


def test_the_settings_table_lists_every_variable() -> None:
    table = readme.settings_table()
    for name in VARIABLES:
        assert f"| `{name}` |" in table
    assert len(table.strip().splitlines()) == len(VARIABLES) + 2


def blocks(*names: str) -> str:
    """Empty generated blocks for ``names``."""
    return "".join(f"<!-- generated: {name} -->\n<!-- /generated: {name} -->\n" for name in names)


def test_the_catalogue_and_layers_tables_follow_the_code() -> None:
    from labs.catalogue import CATALOGUE

    catalogue = readme.catalogue_table()
    assert all(f"| `{name}` |" in catalogue and f"`{spec.func}`" in catalogue for name, spec in CATALOGUE.items())
    layers = readme.layers_table()
    assert "`labs/catalogue.py`" in layers and "`labs/tasks/`" in layers and "`labs/settings.py`" in layers


def test_a_block_is_rewritten_between_its_markers_only() -> None:
    others = blocks(*(name for name in readme.TABLES if name != "settings"))
    text = others + "intro\n<!-- generated: settings -->\nold table\n<!-- /generated: settings -->\noutro\n"
    out = readme.render(text)
    assert "\nintro\n<!-- generated: settings -->\n| variable | meaning | default |\n" in out
    assert "old table" not in out
    assert out.endswith("<!-- /generated: settings -->\noutro\n")
    assert readme.render(out) == out


def test_adding_a_table_is_one_registration(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(readme.TABLES, "demo", lambda: "| a |\n")
    registered = [name for name in readme.TABLES if name != "demo"]
    text = blocks(*registered, "demo")
    assert "<!-- generated: demo -->\n| a |\n<!-- /generated: demo -->" in readme.render(text)
    with pytest.raises(LabError, match="lacks the markers.*generated: demo"):
        readme.render(blocks(*registered))
    with pytest.raises(LabError, match="no table is registered for: nope"):
        readme.render(text + "<!-- generated: nope -->\n<!-- /generated: nope -->\n")


def test_check_exits_1_on_a_stale_readme_and_the_command_fixes_it(tmp_path: Path) -> None:
    copy = tmp_path / "README.md"
    copy.write_text(readme.README.read_text(encoding="utf-8").replace("| `LAB_QUEUE` |", "| `LAB_QUE` |"), encoding="utf-8")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "labs", "readme", "--file", str(copy), *args],
            cwd=REPO_ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip

    stale = run("--check")
    assert stale.returncode == 1 and "out of date: settings" in stale.stderr
    assert run().returncode == 0
    assert run("--check").returncode == 0
    assert copy.read_text(encoding="utf-8") == readme.README.read_text(encoding="utf-8")
