"""The embedded broker's fakeredis fixes, and the guard that checks the installed fakeredis."""

from __future__ import annotations

import logging
import subprocess
import sys
import time

import pytest
import redis

from labs.broker import EmbeddedBroker, fakeredis_fixes
from labs.broker.fakeredis_fixes import FakeredisMismatch
from labs.settings import REPO_ROOT


def test_the_pinned_fakeredis_is_one_the_fixes_were_written_for() -> None:
    assert fakeredis_fixes.installed_version() in fakeredis_fixes.WRITTEN_FOR
    assert fakeredis_fixes.check() is True
    assert fakeredis_fixes.missing_internals() == []


def test_another_version_with_the_internals_is_used_with_a_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger=fakeredis_fixes.__name__):
        assert fakeredis_fixes.check("99.0.0") is False
    assert "fakeredis 99.0.0 is not a version" in caplog.text


def test_another_version_without_an_internal_fails_in_one_clear_line(monkeypatch: pytest.MonkeyPatch) -> None:
    import fakeredis._helpers

    monkeypatch.delattr(fakeredis._helpers, "casematch")
    with pytest.raises(FakeredisMismatch) as info:
        fakeredis_fixes.check("99.0.0")
    message = str(info.value)
    assert "\n" not in message
    assert "fakeredis 99.0.0 is installed" in message and "written for fakeredis 2.41.0" in message
    assert "fakeredis._helpers:casematch" in message
    assert fakeredis_fixes.check("2.41.0") is True  # the version written for is not probed


def test_a_socket_attribute_that_went_away_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fakeredis_fixes, "SOCKET_INTERNALS", ("_blocked", "_lab_no_such_attribute"))
    assert fakeredis_fixes.missing_internals() == ["fakeredis socket ._lab_no_such_attribute"]


def test_the_blmove_fix_is_skipped_where_blmove_already_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    from fakeredis.commands_mixins.list_mixin import ListCommandsMixin

    monkeypatch.delattr(ListCommandsMixin, "_lab_blmove_fixed", raising=False)
    original = ListCommandsMixin.blmove
    monkeypatch.setattr(fakeredis_fixes, "blmove_blocks", lambda: True)
    assert fakeredis_fixes.fix_blmove(probe=True) is False
    assert ListCommandsMixin.blmove is original


def test_the_pinned_fakeredis_still_needs_the_blmove_fix() -> None:
    """Unfixed (a fresh process: importing the fixes applies none), BLMOVE answers at once; fixed, it waits."""
    probe = "from labs.broker import fakeredis_fixes as f; print(f.blmove_blocks()); f.fix_blmove(); print(f.blmove_blocks())"
    out = subprocess.run([sys.executable, "-c", probe], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert out.stdout.split() == ["False", "True"], out.stderr


def test_the_embedded_broker_blocks_in_blmove_like_redis() -> None:
    with EmbeddedBroker(write_url=False) as emb:
        conn = redis.Redis.from_url(emb.url)
        started = time.monotonic()
        assert conn.blmove("empty", "other", 0.3) is None
        assert time.monotonic() - started >= 0.25
