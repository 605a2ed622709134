"""Where CI's minutes go: test time per tier and variant, summed from pytest's own reports.

`tests/conftest.py` feeds every finished test phase to a `Budget` and prints its table at the
end of a run, so each `.ci/run` shows the figures `docs/maintainers.md` budgets against.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable

TIERS = ("fast", "slow", "update")
PARAMETERS = re.compile(r"\[(.*)\]$")
NO_VARIANT = "(all variants' files)"


def tier_of(keywords: Iterable[str]) -> str:
    """The tier a test belongs to, from its markers: `update`, `slow`, or the fast tier."""
    names = set(keywords)
    return "update" if "update" in names else "slow" if "slow" in names else "fast"


def variant_of(nodeid: str, variants: Iterable[str]) -> str:
    """The variant a test runs on, if its parameters name one (the longest name that fits)."""
    match = PARAMETERS.search(nodeid)
    if not match:
        return NO_VARIANT
    parameters = match.group(1).split("-")
    named = [name for name in variants if set(name.split("-")) <= set(parameters) and name in match.group(1)]
    return max(named, key=len) if named else NO_VARIANT


class Budget:
    """Seconds of test time (setup, call and teardown) per tier and variant."""

    def __init__(self, variants: Iterable[str]) -> None:
        self.variants = list(variants)
        self.seconds: dict[tuple[str, str], float] = defaultdict(float)

    def add(self, nodeid: str, keywords: Iterable[str], duration: float) -> None:
        self.seconds[tier_of(keywords), variant_of(nodeid, self.variants)] += duration

    def table(self) -> list[str]:
        """A Markdown table: a row per variant, a column per tier, minutes; totals last."""
        rows = sorted({variant for _, variant in self.seconds})
        lines = ["| variant | " + " | ".join(TIERS) + " | total |", "|---|" + "---:|" * (len(TIERS) + 1)]
        for variant in rows:
            cells = [self.seconds.get((tier, variant), 0.0) / 60 for tier in TIERS]
            lines.append(f"| {variant} | " + " | ".join(f"{cell:.1f}" for cell in cells) + f" | {sum(cells):.1f} |")
        totals = [sum(seconds for (tier, _), seconds in self.seconds.items() if tier == name) / 60 for name in TIERS]
        lines.append("| **total** | " + " | ".join(f"{cell:.1f}" for cell in totals) + f" | {sum(totals):.1f} |")
        return lines
