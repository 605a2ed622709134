"""The monitoring report: one self-contained HTML page drawn from the run's summary (`summary.json`).

No script, stylesheet or image is fetched: the plots are inline SVG written here, so the page
opens anywhere (a CI artifact, an e-mail attachment) and needs no plotting library at run time.
Read top to bottom: the overall status and its alerts, the live metric, one table row per
feature, then reference-vs-window shares for the predictions and every feature, drifted first.
"""

from __future__ import annotations

from html import escape

from .performance import Performance
from .summary import DriftCheck, MonitorSummary

STATUS_COLOURS = {"all_clear": "#1b7f3b", "alert": "#b42318", "insufficient_data": "#8a6d00"}
STATUS_WORDS = {"all_clear": "All clear", "alert": "Alert", "insufficient_data": "Insufficient data"}
REFERENCE_COLOUR, WINDOW_COLOUR = "#9aa5b1", "#2f6fde"
LABEL_WIDTH, BAR_WIDTH, ROW_HEIGHT = 150, 300, 22

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #1f2933; max-width: 1100px; }
.status { color: #fff; padding: .6rem 1rem; border-radius: 6px; display: inline-block; font-size: 1.4rem; }
table { border-collapse: collapse; margin: 1rem 0; }
th, td { border-bottom: 1px solid #d9dee3; padding: .3rem .7rem; text-align: left; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
tr.drifted td { background: #fdecea; }
.plots { display: flex; flex-wrap: wrap; gap: 1.5rem; }
figure { margin: 0; }
figcaption { font-weight: 600; margin-bottom: .3rem; }
.legend span { display: inline-block; width: .8rem; height: .8rem; margin: 0 .3rem 0 1rem; vertical-align: middle; }
"""


def _number(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3f}" if value == 0 or abs(value) >= 1e-3 else f"{value:.2e}"


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def _shift(value: float | None) -> str:
    return "" if value is None else f"{value:+.2f}"


def share_plot(check: DriftCheck) -> str:
    """Horizontal bars: each bin's or category's share in the reference (grey) and the window (blue)."""
    bins = check.bins
    largest = max([bin_.reference or 0 for bin_ in bins] + [bin_.window or 0 for bin_ in bins] + [1e-9])
    height = ROW_HEIGHT * len(bins) + 10
    width = LABEL_WIDTH + BAR_WIDTH + 60
    parts = [
        f'<svg class="drift-plot" data-feature="{escape(check.name)}" xmlns="http://www.w3.org/2000/svg" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(check.name)}: reference and window shares">'
    ]
    for row, bin_ in enumerate(bins):
        top = row * ROW_HEIGHT + 5
        label = escape(bin_.label)
        parts.append(f'<text x="{LABEL_WIDTH - 6}" y="{top + 14}" font-size="11" text-anchor="end">{label}</text>')
        shares = (("reference", bin_.reference, REFERENCE_COLOUR), ("window", bin_.window, WINDOW_COLOUR))
        for offset, (key, value, colour) in enumerate(shares):
            share = value or 0.0
            length = BAR_WIDTH * share / largest
            parts.append(
                f'<rect x="{LABEL_WIDTH}" y="{top + 2 + offset * 9}" width="{length:.1f}" height="8" fill="{colour}">'
                f"<title>{label}, {key}: {100 * share:.1f}%</title></rect>"
            )
        window_share = bin_.window or 0.0
        parts.append(
            f'<text x="{LABEL_WIDTH + BAR_WIDTH * window_share / largest + 4:.1f}" y="{top + 17}" font-size="10">'
            f"{100 * window_share:.0f}%</text>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _feature_row(check: DriftCheck) -> str:
    css = ' class="drifted"' if check.drifted else ""
    cells = [
        escape(check.name),
        check.kind,
        f'<td class="number">{_number(check.psi)}</td>',
        f'<td class="number">{_shift(check.mean_shift)}</td>',
        f'<td class="number">{_number(check.p_value)}</td>',
        f'<td class="number">{_share(check.reference_missing_share)}</td>',
        f'<td class="number">{_share(check.window_missing_share)}</td>',
        "<strong>drifted</strong>" if check.drifted else "ok",
    ]
    return f"<tr{css}>" + "".join(cell if cell.startswith("<td") else f"<td>{cell}</td>" for cell in cells) + "</tr>"


def _performance(performance: Performance | None) -> str:
    if performance is None:
        return "<p>No outcomes given: pass <code>--outcomes FILE</code> to score the live primary metric.</p>"
    relation = "at least" if performance.higher_is_better else "at most"
    verdict = (
        "DECAYED"
        if performance.decayed
        else "within the gate"
        if performance.judged
        else "not judged (fewer labelled rows than the minimum window)"
    )
    return (
        f"<p>Live <strong>{escape(performance.metric)} = {_number(performance.value)}</strong> on "
        f"{performance.rows} labelled rows; the gate asks for {relation} {performance.threshold}: {verdict}.</p>"
    )


def insufficient_data(summary: MonitorSummary) -> str:
    """What an insufficient-data run lacks, and how to get it: in place of the checks it could not make."""
    window = summary.window
    needed = window.min_window - window.rows
    where = (
        f"between {escape(window.start)} and {escape(window.end)}"
        if window.start and window.end
        else f"in {escape(window.source)}"
    )
    return f"""<div id="insufficient">
<p><strong>Not judged: {window.rows} rows {where}; drift is judged from {window.min_window} rows
(<code>monitoring.min_window</code> in ml-project.yaml), so {needed} more are needed.</strong></p>
<p>No feature, prediction or missing-value check ran, so this page has no feature table and no
plots. To judge now: read a longer span of the log (<code>--window-hours</code>), point
<code>--predictions</code> at a log or batch with at least {window.min_window} rows, or wait for
more traffic. Lowering <code>min_window</code> makes chance differences look like drift.</p>
</div>"""


def checks_section(summary: MonitorSummary) -> str:
    """The feature table and the reference-vs-window plots, drifted first."""
    checks = [*([summary.prediction] if summary.prediction else []), *summary.features]
    ordered = sorted(checks, key=lambda check: not check.drifted)
    figures = "".join(
        f"<figure><figcaption>{escape(check.name)} (PSI {_number(check.psi)})</figcaption>{share_plot(check)}</figure>"
        for check in ordered
    )
    rows = "".join(_feature_row(check) for check in checks)
    return f"""<table id="features">
<thead><tr><th>feature</th><th>kind</th><th>PSI</th><th>mean shift (SD)</th><th>p-value</th>
<th>missing (reference)</th><th>missing (window)</th><th>verdict</th></tr></thead>
<tbody>{rows}</tbody>
</table>
<h2>Reference vs window</h2>
<p class="legend"><span style="background: {REFERENCE_COLOUR}"></span>reference
<span style="background: {WINDOW_COLOUR}"></span>window</p>
<div class="plots">{figures}</div>"""


def render_report(summary: MonitorSummary) -> str:
    """The whole page for one monitoring run."""
    status, window, reference = summary.status, summary.window, summary.reference
    judged = bool(summary.features or summary.prediction)
    alerts = "".join(f"<li>{escape(alert)}</li>" for alert in summary.alerts) or "<li>none</li>"
    span = f"{window.start} to {window.end}" if window.start else "the whole batch"
    thresholds = summary.thresholds
    shift = f" or its mean may have moved {thresholds.mean_shift_sd} SDs" if thresholds.mean_shift_sd else ""
    missing = (
        f" Missing model inputs: {_share(summary.missing_rate)} on average." if summary.missing_rate is not None else ""
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Monitoring report: {STATUS_WORDS[status]}</title>
<style>{STYLE}</style>
</head>
<body>
<h1>Monitoring report</h1>
<p class="status" id="status" style="background: {STATUS_COLOURS[status]}">{STATUS_WORDS[status]}</p>
<h2>Alerts</h2>
<ul id="alerts">{alerts}</ul>
<p>Window: {window.rows} rows from {escape(window.source)} ({escape(span)}), of which
{window.predictions_compared} predictions by the reference model. Reference: model version
{escape(reference.model_version)} ({reference.rows} evaluation rows).</p>
<p>Contract violations: {_share(summary.contract_violation_rate)} of rows (limit
{_share(thresholds.max_violation_rate)}).{missing}</p>
<p>A feature drifts when its PSI reaches {thresholds.drift_threshold}{shift}, and one of its tests is
significant at {thresholds.significance} after Holm's correction across all tests.</p>
<h2>Live performance</h2>
{_performance(summary.performance)}
<h2>Features</h2>
{checks_section(summary) if judged else insufficient_data(summary)}
</body>
</html>
"""
