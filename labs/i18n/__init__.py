"""Every word the lab shows, in 中文 and English: one catalogue for the dashboard, the playground and the lessons.

The strings live in ``zh.json`` and ``en.json`` beside this file, one flat
``key: text`` table per language, so a term (a state, an analogy, a task) is
spelt once. A text may embed another entry with ``{@key}`` (``"state.pending":
"{@parcel.pending} / 等待中"``): the reference is resolved when the catalogue is
loaded, so the parcel name 已下单 reads the same in the state's label and in
the playground's state box. The key families:

- ``state.<state>``, ``parcel.<state>``   the four states' names (:data:`labs.states.LABELS` reads them)
- ``analogy.<concept>.<view>``            the seed's analogies: ``backend``, ``frontend`` and ``life``
- ``task.<name>``                         the catalogue tasks' titles (:func:`task_title`)
- the dashboard's (``board.*``, ``col.*``, ``event.*``, ...) and the playground's (``p1.*`` ... ``p7.*``)

Placeholders are ``{name}``. The dashboard formats with :meth:`str.format`
(``{ms:.0f}`` and ``{{`` for a brace work); the playground's ``t()`` fills
``{name}`` and leaves an unknown one as written. This module is core: it
imports nothing else from ``labs``.
"""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path
from typing import Any

LANGUAGES: dict[str, str] = {"zh": "中文", "en": "English"}
DEFAULT = "zh"
VIEWS = ("backend", "frontend", "life")
"""The three ways the seed explains a concept: the backend concept, a front-end analogy, a daily-life one."""

FOLDER = Path(__file__).resolve().parent
_REFERENCE = re.compile(r"\{@([\w.]+)\}")


class CatalogueError(ValueError):
    """A broken catalogue file: a reference to a missing key, or a loop of references."""


def _resolve(raw: dict[str, str], lang: str) -> dict[str, str]:
    done: dict[str, str] = {}

    def resolve(key: str, trail: tuple[str, ...]) -> str:
        if key in done:
            return done[key]
        if key in trail:
            raise CatalogueError(f"{lang}.json: {' -> '.join((*trail, key))} refers to itself")
        if key not in raw:
            raise CatalogueError(f"{lang}.json: {trail[-1]!r} refers to the missing key {key!r}")
        done[key] = _REFERENCE.sub(lambda m: resolve(m.group(1), (*trail, key)), raw[key])
        return done[key]

    return {key: resolve(key, ()) for key in raw}


def raw_strings(lang: str) -> dict[str, str]:
    """``lang``'s file as written (references unresolved): what the consistency tests read."""
    return json.loads((FOLDER / f"{lang}.json").read_text(encoding="utf-8"))


@functools.cache
def _strings(lang: str) -> dict[str, str]:
    return _resolve(raw_strings(lang), lang)


def _lang(lang: str) -> str:
    return lang if lang in LANGUAGES else DEFAULT


def strings(lang: str = DEFAULT) -> dict[str, str]:
    """Every text of ``lang`` (an unknown language reads the default), references resolved."""
    return dict(_strings(_lang(lang)))


def has(key: str) -> bool:
    return key in _strings(DEFAULT)


def t(key: str, lang: str = DEFAULT, /, **values: Any) -> str:
    """The text for ``key`` in ``lang``, formatted with ``values``; an unknown key raises ``KeyError``."""
    return _strings(_lang(lang))[key].format(**values)


def label(prefix: str, name: str, lang: str = DEFAULT) -> str:
    """``t(prefix + name)``, or ``name`` itself when the catalogue has no such key (a value added later)."""
    key = f"{prefix}{name}"
    return t(key, lang) if has(key) else name


def concepts() -> list[str]:
    """The concepts the seed explains with an analogy (``queue``, ``job_id``, ``dlq``, ...), in catalogue order."""
    found = (re.fullmatch(r"analogy\.(\w+)\.backend", key) for key in _strings(DEFAULT))
    return [match.group(1) for match in found if match]


def analogy_views(concept: str, lang: str = DEFAULT) -> tuple[str, str, str]:
    """(backend concept, front-end analogy, daily-life analogy) of ``concept``, e.g. 死信队列 / Error Boundary / 退件处理中心."""
    backend, frontend, life = (t(f"analogy.{concept}.{view}", lang) for view in VIEWS)
    return backend, frontend, life


def task_title(name: str, lang: str = DEFAULT) -> str:
    """A catalogue task's title, e.g. ``send_email`` -> 发邮件（会重试）; ``name`` itself if it has none."""
    return label("task.", name, lang)


def task_titles(name: str) -> dict[str, str]:
    """A task's title in every language (what ``GET /catalogue`` answers)."""
    return {lang: task_title(name, lang) for lang in LANGUAGES}


def catalogue() -> dict[str, Any]:
    """The whole catalogue as the playground loads it: the languages, the default, and every text of each."""
    return {"languages": LANGUAGES, "default": DEFAULT, "strings": {lang: strings(lang) for lang in LANGUAGES}}
