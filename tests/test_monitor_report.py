"""Slow tier: a generated project's monitoring report renders in a real browser.

The default variant is rendered and reproduced, `monitor` runs on a batch with one feature
shifted, and headless Chromium (Debian's package; `.ci/run` installs it) opens the HTML
report: no console errors, no failed loads, the alert status, and a drawn plot per feature.
"""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import ConsoleMessage, sync_playwright

from tests.test_generated import Project, create_project
from tools.variants import variant_named

pytestmark = pytest.mark.slow

VARIANT = "binary-defaults"
SHIFTED_COLUMN, SHIFT = "tenure_months", 60  # months: several standard deviations in the sample data
EXIT_ALERT = 3


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The report and summary of `monitor` on the sample data with one column shifted."""
    project: Project = create_project(variant_named(VARIANT), tmp_path_factory.mktemp("monitor-report"))
    project.uv_run("dvc", "repro")
    batch = project.root / "shifted.csv"
    raw = yaml.safe_load((project.root / "params.yaml").read_text())["data"]["raw"]  # the one declared path
    with (project.root / raw).open(newline="") as source:
        rows = list(csv.DictReader(source))
    for row in rows:
        row[SHIFTED_COLUMN] = str(int(row[SHIFTED_COLUMN]) + SHIFT)
    with batch.open("w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    output = project.root / "logs/monitoring"
    package = project.answers["package_name"]
    command = ["uv", "run", "--frozen", package, "monitor", "--predictions", str(batch), "--output-dir", str(output)]
    result = subprocess.run(command, cwd=project.root, env=project.env, capture_output=True, text=True)
    assert result.returncode == EXIT_ALERT, result.stdout + result.stderr
    return output / "report.html", json.loads((output / "summary.json").read_text())


def test_report_renders_in_chromium_without_errors_and_shows_the_drift_plots(report: tuple[Path, dict]) -> None:
    path, summary = report
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("chromium is not installed: `apt-get install -y chromium` (.ci/run does this)")
    problems: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.on("console", lambda message: _record_console_error(message, problems))
            page.on("pageerror", lambda error: problems.append(f"page error: {error.message}"))
            page.on("requestfailed", lambda request: problems.append(f"failed load: {request.url}"))
            page.goto(path.as_uri(), wait_until="load")
            status = page.locator("#status").inner_text()
            plots = page.locator("svg.drift-plot")
            sizes = [plots.nth(index).bounding_box() for index in range(plots.count())]
            shifted = page.locator(f'svg.drift-plot[data-feature="{SHIFTED_COLUMN}"] rect')
            bar_widths = [float(shifted.nth(index).get_attribute("width") or 0) for index in range(shifted.count())]
            drifted_row = page.locator("#features tr.drifted", has_text=SHIFTED_COLUMN).count()
        finally:
            browser.close()
    assert problems == []
    assert status == "Alert"
    assert len(sizes) == len(summary["features"]) + 1  # every feature and the predictions
    assert all(size is not None and size["width"] > 0 and size["height"] > 0 for size in sizes)
    assert max(bar_widths) > 0
    assert drifted_row == 1


def _record_console_error(message: ConsoleMessage, problems: list[str]) -> None:
    if message.type == "error":
        problems.append(f"console error: {message.text}")
