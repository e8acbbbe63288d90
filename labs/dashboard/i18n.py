"""The dashboard's captions and labels, made from the lab's one string catalogue (:mod:`labs.i18n`).

The seed explains each concept three ways: the backend concept, a front-end
analogy and a daily-life analogy (job id = 快递单号, dead-letter queue =
退件处理中心, ...). Every element on the dashboard carries its one-line
:func:`analogy` caption. The words themselves live in ``labs/i18n/*.json``;
this module only decides how the dashboard puts them together.

:func:`t` looks a key up; a missing key raises ``KeyError`` (a test checks that
every key the pages use exists in both languages).
"""

from __future__ import annotations

from ..i18n import DEFAULT, LANGUAGES, analogy_views, has, label, t, task_title

__all__ = [
    "DEFAULT",
    "LANGUAGES",
    "analogy",
    "column_label",
    "concept_title",
    "event_label",
    "has",
    "label",
    "outcome_label",
    "param_label",
    "short_label",
    "t",
    "task_title",
]


def analogy(concept: str, lang: str = DEFAULT) -> str:
    """The one-line caption an element carries: daily life · front end · backend."""
    backend, frontend, life = analogy_views(concept, lang)
    return t("analogy.fmt", lang, life=life, frontend=frontend, backend=backend)


def concept_title(concept: str, lang: str = DEFAULT) -> str:
    """``backend = daily life``, e.g. ``死信队列 = 退件处理中心``."""
    backend, _, life = analogy_views(concept, lang)
    return f"{backend} = {life}"


def param_label(name: str, lang: str = DEFAULT) -> str:
    """A task parameter's label: its API name with what it means."""
    return label("param.", name, lang)


def column_label(column: str, lang: str = DEFAULT) -> str:
    """A board column's label (the four states, retrying, dead-lettered, or unknown)."""
    return label("col.", column, lang)


def short_label(column: str, lang: str = DEFAULT) -> str:
    """A board column's short name (for headers that must fit a projector)."""
    return label("short.", column, lang)


def event_label(event: str, lang: str = DEFAULT) -> str:
    return label("event.", event, lang)


def outcome_label(outcome: str, lang: str = DEFAULT) -> str:
    """How one delivery attempt ended (签收, 失败→重投, ...)."""
    return label("outcome.", outcome, lang)
