"""CI=true turns every skip into a failure (tests/ci_gate.py), whatever caused the skip."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = '''
import pytest

def test_runs():
    assert True

def test_skips_by_call():
    pytest.skip("no frobnicator here")

@pytest.mark.skip(reason="marked away")
def test_skips_by_marker():
    pass

@pytest.mark.xfail(reason="known bug", strict=True)
def test_expected_failure():
    assert False
'''


def _run_sample(tmp_path: Path, ci: str | None) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    env = {k: v for k, v in os.environ.items() if k != "CI"}
    env["PYTHONPATH"] = str(ROOT)
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.ci_gate", "-p", "no:cacheprovider",
         "-q", "-rA", "--rootdir", str(tmp_path), str(tmp_path / "test_sample.py")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )


def test_outside_ci_a_skip_is_a_visible_skip(tmp_path: Path) -> None:
    result = _run_sample(tmp_path, ci=None)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed, 2 skipped, 1 xfailed" in result.stdout


def test_in_ci_every_skip_fails_and_names_its_reason(tmp_path: Path) -> None:
    result = _run_sample(tmp_path, ci="true")
    assert result.returncode == 1, result.stdout + result.stderr
    # A skip during the test is a failure; one during setup (a marker, a fixture) is an error.
    assert "1 failed, 1 passed, 1 xfailed, 1 error" in result.stdout
    assert "skipped in CI, where every test must run: no frobnicator here" in result.stdout
    assert "skipped in CI, where every test must run: marked away" in result.stdout
