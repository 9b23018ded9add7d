"""Capability detection: the strongest mode is reached where it can be, and said so."""

from __future__ import annotations

import json
import shutil

import pytest

from vibeforge.sandbox import IsolationMode, isolation_report
from vibeforge.sandbox.isolation import IsolationSupport


def test_bubblewrap_is_reached_where_bwrap_is_installed(caps: IsolationSupport) -> None:
    if shutil.which("bwrap") is None:
        pytest.skip("bwrap is not installed: run scripts/system-deps.sh (Debian: bubblewrap)")
    assert caps.strongest is IsolationMode.BUBBLEWRAP, caps.missing


def test_root_never_uses_the_rlimits_mode(caps: IsolationSupport) -> None:
    if not caps.is_root:
        pytest.skip("the server is not root here")
    assert IsolationMode.RLIMITS not in caps.available
    assert IsolationMode.SETUID in caps.available


async def test_report_names_the_mode_and_its_protections(caps: IsolationSupport) -> None:
    report = await isolation_report()
    json.dumps(report)  # /health serves it as JSON
    assert report["mode"] == caps.available[0].value
    protections = report["protections"]
    assert isinstance(protections, dict)
    assert protections["empty_environment"] is True
    if report["mode"] == "bubblewrap":
        assert all(protections.values())
    assert set(report) >= {"mode", "available", "protections", "runs_as", "unavailable"}
