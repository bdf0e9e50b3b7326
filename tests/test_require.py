"""require(): an optional part that is missing skips a test locally, with the reason, and fails it under CI."""

import pytest

from tests.helpers import require as r


@pytest.fixture
def missing(monkeypatch):
    monkeypatch.setitem(r.PARTS, "gizmo", (lambda: None, "a gizmo: `make gizmo` builds it"))


def test_a_missing_part_skips_with_the_reason_outside_ci(missing, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=r"needs a gizmo: `make gizmo` builds it: it renders"):
        r.require("gizmo", "it renders")
    with pytest.warns(UserWarning, match="needs a gizmo.*; left out"):
        assert r.optional("gizmo") is False


@pytest.mark.parametrize("value", ["1", "true"])
def test_a_missing_part_fails_under_ci(missing, monkeypatch, value):
    monkeypatch.setenv("CI", value)
    for call in (r.require, r.optional):
        with pytest.raises(pytest.fail.Exception, match="CI is set, so a missing part is a failure"):
            call("gizmo")


def test_a_part_that_is_here_is_returned(monkeypatch):
    monkeypatch.setitem(r.PARTS, "gizmo", (lambda: "/opt/gizmo", "a gizmo"))
    monkeypatch.setenv("CI", "1")
    assert r.require("gizmo") == "/opt/gizmo" and r.optional("gizmo") is True
    assert not r.in_ci({"CI": "false"}) and not r.in_ci({}) and r.in_ci({"CI": "yes"})
