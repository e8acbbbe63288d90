"""Every word on the dashboard exists in both languages, and every element carries its seed analogy."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from labs.dashboard import board, channels, charts, i18n
from labs.events import EVENT_TYPES

PACKAGE = Path(i18n.__file__).parent
SOURCES = [*PACKAGE.glob("*.py"), *(PACKAGE / "pages").glob("*.py"), PACKAGE.parent.parent / "app.py"]


def test_every_string_has_both_languages() -> None:
    for key, entry in i18n.STRINGS.items():
        assert set(entry) == {"zh", "en"}, key
        assert entry["zh"].strip() and entry["en"].strip(), key
        assert entry["zh"] != entry["en"] or key.startswith(("col.", "short.")), key


def test_every_key_the_pages_use_exists() -> None:
    used: set[str] = set()
    for source in SOURCES:
        used |= set(re.findall(r"""\bt\(\s*["']([a-z_]+\.[a-z_.]+)["']""", source.read_text()))
    assert len(used) > 100
    missing = sorted(key for key in used if key not in i18n.STRINGS)
    assert missing == []


@pytest.mark.parametrize(
    ("prefix", "names"),
    [
        ("outcome.", list(charts.OUTCOME_COLORS)),
        ("event.", list(EVENT_TYPES)),
        ("col.", list(board.COLUMNS)),
        ("short.", list(board.COLUMNS)),
        ("ch.", list(channels.CHANNELS)),
        ("retry.", ["planned", "actual"]),
        ("status.", ["idle", "connecting", "open", "reconnecting", "dropped", "polling", "done", "error", "stopped"]),
    ],
)
def test_keys_built_at_run_time_exist(prefix: str, names: list[str]) -> None:
    assert [name for name in names if prefix + name not in i18n.STRINGS] == []


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
    for concept, views in i18n.ANALOGIES.items():
        assert set(views) == {"zh", "en"}, concept
        assert all(len(triple) == 3 and all(triple) for triple in views.values()), concept


def test_lookup_formats_and_refuses_unknown_keys() -> None:
    assert i18n.t("submit.button", "zh", n=3) == "寄出 3 件"
    assert i18n.t("submit.button", "en", n=3) == "Submit 3 job(s)"
    assert "{" not in i18n.t("submit.poison_help", "en") or '"poison"' in i18n.t("submit.poison_help", "en")
    with pytest.raises(KeyError):
        i18n.t("no.such.key", "en")
    assert i18n.column_label("pending", "zh") == "已下单 / 等待中"
    assert i18n.param_label("not_a_param", "zh") == "not_a_param"
