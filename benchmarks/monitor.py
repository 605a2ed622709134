"""Time a generated project's monitoring statistics on a large window, and reading a large log, apart.

    uv run --project <project> python benchmarks/monitor.py [--rows 1000000] [--features 20] [--repeats 3]

1. Statistics: a window of `--rows` rows x `--features` model inputs already in memory (three
   quarters numeric, a quarter categorical, a few of them shifted), compared with a reference
   profile built by the project's `monitoring.profile` from 5,000 rows: PSI, KS and chi-square
   per feature (`monitoring.drift`), then the Holm-corrected verdicts. The goal is <= 2 s for
   1M x 20 on 2 cores.
2. Reading: `--rows` prediction-log lines in the service's format, written to a temporary
   directory, then read into a frame (`monitoring.inputs.read_log`), checked against the data
   contract (`monitoring.window.contract_violations`), typed and turned into model inputs
   (`core.featureset.model_inputs`), each step timed on its own, then all of them as one step
   (the goal is <= 2 s for 1M lines on 2 cores). For comparison, the same lines read one at a
   time with `json.loads` (`telemetry.prediction_log.read_prediction_log`, the reader `read_log`
   falls back to for a file it cannot read column by column).

Prints one line per step; keep the machine otherwise idle.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from target import enter_project, project_module

REFERENCE_ROWS = 5000
CATEGORIES = ("alpha", "beta", "gamma", "delta", "epsilon")
LINES_PER_FILE = 250_000  # about the service's 10 MB rotation size, as several files


def timed(step: Callable[[], Any], repeats: int) -> tuple[list[float], Any]:
    """Seconds per run of `step` and its last result."""
    seconds, result = [], None
    for _ in range(repeats):
        started = time.perf_counter()
        result = step()
        seconds.append(time.perf_counter() - started)
    return seconds, result


def report(label: str, seconds: list[float], rows: int) -> None:
    best, median = min(seconds), statistics.median(seconds)
    print(f"{label:<44} best {best:6.2f} s  median {median:6.2f} s  ({rows / best:,.0f} rows/s)")


def synthetic_window(rows: int, features: int, rng: np.random.Generator) -> tuple[Any, pd.DataFrame]:
    """A reference profile and a window with the same columns; every fifth feature shifted."""
    profile = project_module("monitoring.profile")
    categorical = max(1, features // 4)
    profiles, columns = {}, {}
    for index in range(features):
        name, shift = f"feature_{index:02d}", 0.5 if index % 5 == 0 else 0.0
        if index < categorical:
            weights = np.array([0.4, 0.3, 0.15, 0.1, 0.05])
            reference = pd.Series(rng.choice(CATEGORIES, size=REFERENCE_ROWS, p=weights))
            profiles[name] = profile.categorical_profile(reference, CATEGORIES[:4])  # "epsilon" becomes __other__
            live_weights = np.roll(weights, 1) if shift else weights
            columns[name] = pd.Series(rng.choice(CATEGORIES, size=rows, p=live_weights), dtype=object)
        else:
            profiles[name] = profile.numeric_profile(pd.Series(rng.normal(size=REFERENCE_ROWS)), rng)
            live = rng.normal(loc=shift, size=rows)
            live[rng.random(rows) < 0.01] = np.nan
            columns[name] = live
    predictions = profile.numeric_profile(pd.Series(rng.random(REFERENCE_ROWS)), rng)  # not judged here
    reference = profile.ReferenceProfile(rows=REFERENCE_ROWS, features=profiles, prediction=predictions)
    return reference, pd.DataFrame(columns)


def benchmark_statistics(rows: int, features: int, repeats: int) -> None:
    profile, window = synthetic_window(rows, features, np.random.default_rng(0))
    drift = project_module("monitoring.drift")

    def check() -> list[Any]:
        return drift.judge(drift.feature_drifts(profile, window), threshold=0.2, significance=0.01)

    seconds, verdicts = timed(check, repeats)
    report(f"statistics, {rows:,} rows x {features} features", seconds, rows)
    print(f"  drifted: {sum(verdict.drifted for verdict in verdicts)} of {features} (every fifth is shifted)")


def log_line(row: dict[str, Any], index: int) -> str:
    """One prediction-log line as the service writes it."""
    record = {
        "request_id": f"bench-{index}",
        "timestamp": "2026-01-31T12:00:00.000+00:00",
        "model_version": "benchmark",
        "features": row,
        "prediction": 1,
        "probabilities": {"0": 0.25, "1": 0.75},
        "latency_ms": 1.5,
        "fallback": False,
    }
    return json.dumps(record, separators=(",", ":")) + "\n"


def write_log(directory: Path, rows: int) -> None:
    """`rows` lines of the contract's example row, split over files like rotated ones."""
    example = {column.name: column.example for column in project_module("contract").COLUMNS}
    log = project_module("telemetry.prediction_log")
    for start in range(0, rows, LINES_PER_FILE):
        path = directory / f"{log.FILE_PREFIX}bench-{start // LINES_PER_FILE}{log.FILE_SUFFIX}"
        with path.open("w", encoding="ascii") as out:
            end = min(rows, start + LINES_PER_FILE)
            out.writelines(log_line(example, index) for index in range(start, end))


def benchmark_reading(rows: int) -> None:
    inputs, window = project_module("monitoring.inputs"), project_module("monitoring.window")
    typed_leniently = project_module("core.validation").typed_leniently
    model_inputs = project_module("core.featureset").model_inputs
    with tempfile.TemporaryDirectory() as temporary:
        directory = Path(temporary)
        started = time.perf_counter()
        write_log(directory, rows)
        size = sum(path.stat().st_size for path in directory.iterdir()) / 1e6
        print(f"(wrote {rows:,} log lines, {size:,.0f} MB, in {time.perf_counter() - started:.1f} s)")
        seconds, log = timed(lambda: inputs.read_log(directory), 1)
        report(f"read {rows:,} JSONL lines into a frame", seconds, rows)
        raw = log[window.input_names()]
        seconds, violations = timed(lambda: window.contract_violations(raw), 1)
        report("check them against the data contract", seconds, rows)
        print(f"  violations: {int(violations.sum())}")
        seconds, _ = timed(lambda: model_inputs(typed_leniently(raw, with_target=False)), 1)
        report("type them and build the model inputs", seconds, rows)

        def checked_inputs() -> Any:
            raw = inputs.read_log(directory)[window.input_names()]
            return window.contract_violations(raw), model_inputs(typed_leniently(raw, with_target=False))

        seconds, _ = timed(checked_inputs, 1)
        report("all three: log files to checked model inputs", seconds, rows)
        records = project_module("telemetry.prediction_log").read_prediction_log
        seconds, _ = timed(lambda: inputs.log_frame(records(directory)), 1)
        report("read them line by line instead (json.loads)", seconds, rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--project", type=Path, default=None, help="the generated project (default: see target.py)")
    args = parser.parse_args()
    enter_project(args.project)
    print(f"{os.cpu_count()} CPU(s) visible")
    benchmark_statistics(args.rows, args.features, args.repeats)
    benchmark_reading(args.rows)


if __name__ == "__main__":
    main()
