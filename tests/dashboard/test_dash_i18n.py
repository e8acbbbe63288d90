"""Every word on the dashboard exists in both languages, and every element carries its seed analogy.

The words live in the lab's one catalogue (labs/i18n, checked as a whole in tests/test_i18n.py);
here: the keys the dashboard uses, and how it puts them together.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from labs import i18n as catalogue
from labs.dashboard import board, channels, charts, i18n
from labs.events import EVENT_TYPES

PACKAGE = Path(i18n.__file__).parent
SOURCES = [*PACKAGE.glob("*.py"), *(PACKAGE / "pages").glob("*.py"), PACKAGE.parent.parent / "app.py"]
STRINGS = {lang: catalogue.strings(lang) for lang in i18n.LANGUAGES}


def keys_used() -> set[str]:
    used: set[str] = set()
    for source in SOURCES:
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_]+\.[a-z_.]+)["']""", source.read_text()))
    return used


def test_every_string_has_both_languages() -> None:
    used = keys_used() | {f"{prefix}{name}" for prefix, names in BUILT_AT_RUN_TIME for name in names}
    for key in sorted(used):
        zh, en = STRINGS["zh"].get(key), STRINGS["en"].get(key)
        assert zh and zh.strip() and en and en.strip(), key
        assert zh != en or key.startswith(("col.", "short.")), key


def test_the_dashboard_keeps_no_string_table() -> None:
    """Its words are the catalogue's: no Chinese in its Python outside docstrings and comments."""
    for source in SOURCES:
        tree = ast.parse(source.read_text())
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.FunctionDef | ast.ClassDef) and node.body
            and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
        }  # fmt: skip
        chinese = [
            node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
            and re.search(r"[\u4e00-\u9fff]", node.value)
        ]  # fmt: skip
        assert chinese == [], source.name


def test_every_key_the_pages_use_exists() -> None:
    used = keys_used()
    assert len(used) > 100
    for lang in i18n.LANGUAGES:
        missing = sorted(key for key in used if key not in STRINGS[lang])
        assert missing == [], lang


BUILT_AT_RUN_TIME = [
    ("outcome.", list(charts.OUTCOME_COLORS)),
    ("event.", list(EVENT_TYPES)),
    ("col.", list(board.COLUMNS)),
    ("short.", list(board.COLUMNS)),
    ("ch.", list(channels.CHANNELS)),
    ("retry.", ["planned", "actual"]),
    ("status.", ["idle", "connecting", "open", "reconnecting", "dropped", "polling", "done", "error", "stopped"]),
    ("", list(charts.EDGE_NAMES.values())),
    ("state.", list(charts.NODES)),
]


@pytest.mark.parametrize(("prefix", "names"), BUILT_AT_RUN_TIME)
def test_keys_built_at_run_time_exist(prefix: str, names: list[str]) -> None:
    for lang in i18n.LANGUAGES:
        assert [name for name in names if prefix + name not in STRINGS[lang]] == [], lang


@pytest.mark.parametrize(
    ("concept", "life"),
    [
        ("queue", "快递分拣中心"),
        ("job_id", "快递单号"),
        ("worker", "快递配送员"),
        ("states", "快递物流状态"),
        ("progress", "下载进度条"),
        ("retry", "快递重新投递"),
        ("dlq", "退件处理中心"),
        ("timeout", "快递超时退回"),
        ("websocket", "电话通话"),
        ("sse", "广播电台"),
    ],
)
def test_the_seed_analogies_are_on_the_page(concept: str, life: str) -> None:
    assert life in i18n.analogy(concept, "zh")
    english = i18n.analogy(concept, "en")
    assert english.startswith("Like ") and not re.search(r"[\u4e00-\u9fff]", english)


def test_every_concept_has_three_views_in_both_languages() -> None:
    assert len(catalogue.concepts()) >= 18
    for concept in catalogue.concepts():
        for lang in i18n.LANGUAGES:
            triple = catalogue.analogy_views(concept, lang)
            assert len(triple) == 3 and all(view.strip() for view in triple), (concept, lang)


def test_lookup_formats_and_refuses_unknown_keys() -> None:
    assert i18n.t("submit.button", "zh", n=3) == "寄出 3 件"
    assert i18n.t("submit.button", "en", n=3) == "Submit 3 job(s)"
    assert "{" not in i18n.t("submit.poison_help", "en") or '"poison"' in i18n.t("submit.poison_help", "en")
    with pytest.raises(KeyError):
        i18n.t("no.such.key", "en")
    assert i18n.column_label("pending", "zh") == "已下单 / 等待中"
    assert i18n.param_label("not_a_param", "zh") == "not_a_param"
    assert i18n.outcome_label("retry", "zh") == "失败→重投" and i18n.outcome_label("from_rq_4", "en") == "from_rq_4"
    assert i18n.concept_title("dlq", "zh") == "死信队列 = 退件处理中心"
    assert i18n.task_title("send_email", "zh") == "发邮件（会重试）"
