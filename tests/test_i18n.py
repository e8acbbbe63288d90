"""The one string catalogue (labs/i18n): complete in both languages, and one name per term everywhere.

The dashboard's own keys are checked in tests/dashboard/test_dash_i18n.py and the
playground's in tests/playground/test_playground_server.py; this file checks the
catalogue itself and that a state, an analogy and a task read the same in every view.
"""

from __future__ import annotations

import ast
import re

import pytest

from labs import i18n
from labs.catalogue import CATALOGUE
from labs.dashboard import i18n as dashboard_i18n
from labs.states import LABELS, UNKNOWN, State

LANGS = list(i18n.LANGUAGES)
CJK = re.compile(r"[\u4e00-\u9fff]")
STATES = [*(s.value for s in State), UNKNOWN]
# playground panel -> the concept whose analogy it runs
PANELS = {"p1": "queue", "p2": "states", "p3": "progress", "p4": "retry", "p5": "dlq", "p6": "websocket", "p7": "sse"}


def placeholders(text: str) -> set[str]:
    return set(re.findall(r"(?<!\{)\{(\w+)(?::[^{}]*)?\}(?!\})", text))


def test_both_languages_have_the_same_keys_and_no_empty_text() -> None:
    raw = {lang: i18n.raw_strings(lang) for lang in LANGS}
    zh, en = set(raw["zh"]), set(raw["en"])
    assert zh == en, {"only zh": sorted(zh - en), "only en": sorted(en - zh)}
    assert len(zh) > 400
    for lang in LANGS:
        assert [key for key, text in raw[lang].items() if not isinstance(text, str) or not text.strip()] == [], lang


def test_references_resolve_and_a_broken_one_is_refused() -> None:
    for lang in LANGS:
        assert [key for key, text in i18n.strings(lang).items() if "{@" in text] == [], lang
    assert i18n._resolve({"a": "x {@b} y", "b": "{@c}!", "c": "z"}, "zh") == {"a": "x z! y", "b": "z!", "c": "z"}
    with pytest.raises(i18n.CatalogueError, match="missing key 'nope'"):
        i18n._resolve({"a": "{@nope}"}, "zh")
    with pytest.raises(i18n.CatalogueError, match="refers to itself"):
        i18n._resolve({"a": "{@b}", "b": "{@a}"}, "zh")


def test_both_languages_fill_the_same_placeholders() -> None:
    zh, en = i18n.strings("zh"), i18n.strings("en")
    assert [key for key in zh if placeholders(zh[key]) != placeholders(en[key])] == []
    assert placeholders(zh["board.tick"]) == {"ms", "read", "last"}


def test_english_is_english() -> None:
    en, zh = i18n.strings("en"), i18n.strings("zh")
    assert [key for key, text in en.items() if CJK.search(text)] == ["lang.label"]  # "Language / 语言"
    # a text the same in both languages is a name from code (Web Worker, setTimeout, "{ms} ms"), never Chinese
    assert all(not CJK.search(zh[key]) for key in zh if zh[key] == en[key])


def test_lookup_formats_falls_back_and_refuses_unknown_keys() -> None:
    assert i18n.t("submit.button", "zh", n=3) == "寄出 3 件"
    assert i18n.t("submit.button", "en", n=3) == "Submit 3 job(s)"
    assert i18n.t("submit.button", "fr", n=3) == i18n.t("submit.button", i18n.DEFAULT, n=3)
    with pytest.raises(KeyError):
        i18n.t("no.such.key", "en")
    assert i18n.has("app.title") and not i18n.has("no.such.key")
    assert i18n.label("event.", "started", "en") == "started" and i18n.label("event.", "from_rq_4", "zh") == "from_rq_4"


def test_every_catalogue_task_has_a_title_in_both_languages() -> None:
    titled = {key.removeprefix("task.") for key in i18n.strings() if key.startswith("task.")}
    assert titled == set(CATALOGUE)
    for name in CATALOGUE:
        zh, en = i18n.task_title(name, "zh"), i18n.task_title(name, "en")
        assert CJK.search(zh) and not CJK.search(en) and en.strip(), name
        assert i18n.task_titles(name) == {"zh": zh, "en": en}
    assert i18n.task_title("not_a_task", "zh") == "not_a_task"


@pytest.mark.parametrize("lang", LANGS)
def test_a_state_has_one_name_in_every_view(lang: str) -> None:
    raw = i18n.raw_strings(lang)
    for state in STATES:
        name = i18n.t(f"state.{state}", lang)
        assert LABELS[state][lang] == name  # the lessons' labs.states.LABELS
        assert dashboard_i18n.column_label(state, lang) == name  # the dashboard's board columns and tables
        assert i18n.catalogue()["strings"][lang][f"state.{state}"] == name  # what the playground loads
        # written once: any other entry that shows it refers to it instead of copying it
        assert [key for key, text in raw.items() if name in text and key != f"state.{state}"] == [], state
    assert LABELS["pending"]["zh"] == "已下单 / 等待中" and LABELS["pending"]["en"] == "pending (order placed)"
    for state in STATES[:4]:  # the parcel-tracking name reads the same in the label and in the playground's box
        parcel = i18n.t(f"parcel.{state}", lang)
        assert parcel in LABELS[state][lang]
        assert i18n.t(f"job.{state}", lang) == f"{state} · {parcel}"


@pytest.mark.parametrize("lang", LANGS)
def test_an_analogy_has_one_name_in_every_view(lang: str) -> None:
    concepts = i18n.concepts()
    assert set(PANELS.values()) <= set(concepts) and len(concepts) >= 15
    for concept in concepts:
        views = i18n.analogy_views(concept, lang)
        assert len(views) == 3 and all(v.strip() for v in views), concept
        backend, frontend, life = views
        assert life in dashboard_i18n.analogy(concept, lang) and backend in dashboard_i18n.analogy(concept, lang)
    for panel, concept in PANELS.items():  # the playground panel that runs the analogy names it the same way
        backend, frontend, life = i18n.analogy_views(concept, lang)
        texts = i18n.strings(lang)  # as the playground gets them (its t() leaves a literal {id} alone)
        title, line = texts[f"{panel}.title"], texts[f"{panel}.analogy"]
        assert dashboard_i18n.concept_title(concept, lang) in title or (backend in title and life in title), panel
        assert all(view in line for view in (backend, frontend, life)), panel


def test_the_catalogue_is_core_it_imports_nothing_else_from_labs() -> None:
    tree = ast.parse(i18n.FOLDER.joinpath("__init__.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0 and not (node.module or "").startswith("labs"), ast.unparse(node)
        elif isinstance(node, ast.Import):
            assert not any(alias.name.startswith("labs") for alias in node.names), ast.unparse(node)
