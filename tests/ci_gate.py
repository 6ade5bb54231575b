"""With CI=true a skipped test fails the run: CI must run every test, whatever made it skip.

A pytest hook (tests/conftest.py imports it, which registers it) rather than a grep of the summary, so no skip
can slip past a pattern: a skip from a missing service, a marker or `pytest.importorskip`
becomes a failure that names its reason. An expected failure (xfail) is left alone.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if IN_CI and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every test must run: {reason}"
