"""The feature-lookup benchmark's figures (benchmarks/feature_lookup.py) and its section of docs/benchmarks.md."""

from __future__ import annotations

import importlib
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tools.bench_report import (
    FEATURE_LOOKUP_HEADING,
    FEATURE_LOOKUP_RAW,
    feature_lookup_section,
    write_feature_lookup_section,
    write_report,
)


@pytest.fixture
def bench(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    """The script, imported as it runs: with its own folder on the path (it imports `serve` and `target`)."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    return importlib.import_module("benchmarks.feature_lookup")


def run(side: str, index: int, p50: float, p99: float) -> dict[str, Any]:
    return {"round": index, "side": side, "p50_ms": p50, "p99_ms": p99, "max_ms": p99 * 2, "server_cpu_ms": p50 / 2}


def results(bench: ModuleType, *, lookup_p99: float = 9.0) -> dict[str, Any]:
    """What the script writes for three rounds a side, built by its own `summarise`."""
    rounds = [
        run("lookup", 1, 4.0, 30.0),
        run("no_lookup", 1, 3.0, 7.0),
        run("no_lookup", 2, 3.2, 8.0),
        run("lookup", 2, 4.4, lookup_p99),
        run("lookup", 3, 4.2, 10.0),
        run("no_lookup", 3, 3.1, 6.0),
    ]
    args = type("Args", (), {})()
    args.rounds, args.warmup, args.duration, args.server_cpus, args.client_cpus = 3, 3, 10, "1", "0"
    args.load_at_start, args.start_seconds = [1.0, 1.0, 1.0], {"lookup": 20.0, "no_lookup": 9.0}
    measured = {"row": {}, "view_values": {}, "answer": {}, "rounds": rounds}
    return bench.summarise(measured, args, {"p50_ms": 0.12, "p99_ms": 0.3, "reads": 2000})


def test_each_side_is_the_median_of_its_rounds_and_added_is_their_difference(bench: ModuleType) -> None:
    figures = results(bench)
    assert figures["sides"]["lookup"]["p50_ms"] == 4.2
    assert figures["sides"]["no_lookup"]["p99_ms"] == 7.0
    assert figures["added"] == {"p50_ms": 1.1, "p99_ms": 3.0, "server_cpu_ms": 0.55}  # one slow round is not the median


def test_the_section_judges_both_goals_from_the_added_figures(bench: ModuleType) -> None:
    section = "\n".join(feature_lookup_section(results(bench)))
    assert "| added p50 | +1.10 ms | ≤ 2 ms | meets the goal |" in section
    assert "| added p99 | +3.00 ms | ≤ 5 ms | meets the goal |" in section
    missed = "\n".join(feature_lookup_section(results(bench, lookup_p99=20.0)))
    assert "| added p99 | +13.00 ms | ≤ 5 ms | misses the goal |" in missed
    assert "| with the lookup | 4.20 | 20.00 |" in missed  # the median round (30 ms is the slowest)


def test_rewriting_the_section_leaves_the_rest_of_the_page_as_it_was(bench: ModuleType, tmp_path: Path) -> None:
    page = tmp_path / "benchmarks.md"
    page.write_text("# Benchmarks\n\n## Serving\n\nkept\n\n## The pipeline as the data grows\n\nkept too\n")
    write_feature_lookup_section(results(bench), tmp_path)
    first = page.read_text()
    assert first.startswith("# Benchmarks\n\n## Serving\n\nkept\n\n## The pipeline as the data grows\n\nkept too\n")
    write_feature_lookup_section(results(bench, lookup_p99=20.0), tmp_path)
    second = page.read_text()
    assert second.count(FEATURE_LOOKUP_HEADING) == 1
    assert second.split(FEATURE_LOOKUP_HEADING)[0] == first.split(FEATURE_LOOKUP_HEADING)[0]
    assert "misses the goal" in second


def test_a_whole_page_written_without_the_benchmark_keeps_the_section_from_its_raw_figures(
    bench: ModuleType, tmp_path: Path
) -> None:
    figures = results(bench)
    raw = tmp_path / FEATURE_LOOKUP_RAW
    raw.parent.mkdir(parents=True)
    raw.write_text(json.dumps(figures))
    whole = {
        "machine": {"python": "3.11.7"},
        "render": {"shipshape_render_s": 0.9, "copier_floor_s": 0.6, "ratio": 1.5},
        "first_green_bytecode_cached": {"render": 1.0, "dvc repro": 7.0, "total": 8.0},
    }
    page = write_report(whole, tmp_path).read_text()
    assert page.rstrip().endswith("\n".join(feature_lookup_section(figures)).rstrip())
