"""report.html in headless Chromium: it loads without console errors, needs no JavaScript, shows the findings.

Skips when no Chromium is installed on a user's machine; FAILS when the environment variable CI is set
(CI installs Debian's ``chromium`` package).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html import unescape
from pathlib import Path

import pandas as pd
import pytest
from test_report import minimal_result

from refusal_stability.analysis.findings import key_findings
from refusal_stability.analysis.report import write_report

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
]


def chromium() -> str:
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI"):
        pytest.fail(f"headless Chromium is required under CI: none of {CANDIDATES} on PATH (apt-get install chromium)")
    pytest.skip("Chromium is not installed (apt-get install chromium)")


def run_chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary, *FLAGS, f"--user-data-dir={profile}", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("browser")
    attack = pd.DataFrame({"model": ["Qwen"] * 3, "k": [1, 2, 3], "any_comply_pct": [20.0, 30.0, 40.0]})
    result = minimal_result(resample_attack=attack)
    return write_report(result, out, evidence=[])  # the report needs no JavaScript: it holds none


def test_report_has_no_script(report: Path) -> None:
    assert "<script" not in report.read_text().lower()


def test_report_loads_in_headless_chromium_and_shows_key_findings(report: Path, tmp_path: Path) -> None:
    binary = chromium()
    done = run_chromium(binary, tmp_path / "profile", "--dump-dom", report.resolve().as_uri())
    assert done.returncode == 0, done.stderr[-2000:]
    dom = done.stdout
    assert "<h2>Key findings</h2>" in dom
    expected = key_findings(minimal_result(resample_attack=pd.DataFrame()))
    text = unescape(re.sub(r"\s+", " ", dom))
    for sentence in expected:
        assert sentence in text, sentence
    assert "Llama-3.1-8B flips on 26.8 % [24.1, 29.6] of 876 prompts" in text
    assert not console_errors(done.stderr), console_errors(done.stderr)


def console_errors(stderr: str) -> list[str]:
    """Console messages (script errors, blocked resources) Chromium logged while loading a page."""
    return [line for line in stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]


def test_console_error_detection_catches_a_broken_page(tmp_path: Path) -> None:
    binary = chromium()
    page = tmp_path / "bad.html"
    page.write_text("<html><body><script>undefinedFunction();</script></body></html>")
    done = run_chromium(binary, tmp_path / "profile", "--dump-dom", page.as_uri())
    assert any("undefinedFunction" in line for line in console_errors(done.stderr))


def test_report_screenshot_renders(report: Path, tmp_path: Path) -> None:
    binary = chromium()
    shot = tmp_path / "report.png"
    done = run_chromium(
        binary, tmp_path / "profile", "--window-size=1200,1600", f"--screenshot={shot}", report.resolve().as_uri()
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
