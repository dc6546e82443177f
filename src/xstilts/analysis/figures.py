"""Report figures (matplotlib, rendered off-screen to PNG bytes).

Drawn so that noise does not read as a finding: accuracy axes run from chance to 100, every
point carries its 95% interval, a chance line shows the floor, transfer-gap axes keep a minimum
span, the slope is fitted with and without the source language (which sits alone at distance
about 0), and heatmap colours show only the part of a difference its interval supports.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np

from xstilts.analysis.distance_fits import SettingAnalysis
from xstilts.analysis.stats import ols_slope, percentile_interval
from xstilts.typology.distances import Distances

_AXIS_LABELS = {
    "score": "accuracy (%)",
    "gap": "transfer gap (points below {source})",
}
MIN_GAP_SPAN = 20.0  # points: a gap or score axis never zooms in further, so 1 point of noise stays small


def _pyplot():
    import matplotlib  # imported here: the backend must be chosen before pyplot is imported

    matplotlib.use("Agg")  # no display: figures only become PNG bytes
    import matplotlib.pyplot as plt  # after the backend is set

    return plt


def to_png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight", pad_inches=0.15)  # nothing cut off
    _pyplot().close(fig)
    return buffer.getvalue()


def _span_at_least(low: float, high: float, span: float) -> tuple[float, float]:
    """[low, high] widened about its centre to at least `span`."""
    if high - low >= span:
        return low, high
    centre = (low + high) / 2
    return centre - span / 2, centre + span / 2


def score_limits(chance: float, lowest: list[float]) -> tuple[float, float]:
    """An accuracy axis from below chance (and every interval) to 100: a point of noise looks like one."""
    return min(chance, *lowest) - 3, 101


def distance_scatter(kind: str, settings: list[SettingAnalysis], distances: Distances) -> bytes:
    """Accuracy and transfer gap against one distance kind: a colour per setting, each language
    a point with its 95% bootstrap interval and its code; on the accuracy side the OLS line with
    the source language (solid) and without it (dashed), and the chance line."""
    plt = _pyplot()
    x = distances.known(kind)
    source = settings[0].source
    chance = 100 * max(s.group.first.languages[source].chance for s in settings)
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.6))
    x_span = max(np.ptp(list(x.values())) if x else 0.0, 0.05)
    for ax, measure in zip(axes, ("score", "gap")):
        lowest, highest = [], []
        for i, (colour, setting) in enumerate(zip(plt.get_cmap("tab10").colors, settings)):
            values = setting.scores if measure == "score" else setting.gaps()
            replicates = setting.score_replicates if measure == "score" else setting.gap_replicates()
            langs = [lang for lang in values if lang in x]
            # Settings side by side at one distance, so their intervals do not hide each other.
            dodge = (i - (len(settings) - 1) / 2) * 0.008 * x_span
            xs = np.array([x[lang] for lang in langs]) + dodge
            ys = np.array([values[lang] for lang in langs])
            intervals = np.array([percentile_interval(replicates[lang]) for lang in langs]).reshape(-1, 2)
            lowest.append(intervals[:, 0].min(initial=np.inf))
            highest.append(intervals[:, 1].max(initial=-np.inf))
            fit = setting.fits.get((kind, measure))
            label = setting.label
            if fit is not None and measure == "score":
                without = _fit_without_source(setting, kind, x)
                label += f" (slope {fit.slope:+.1f}" + (f"; without {source} {without[0]:+.1f})" if without else ")")
            elif fit is not None:
                label += f" (slope {fit.slope:+.1f})"
            ax.errorbar(xs, ys, yerr=[ys - intervals[:, 0], intervals[:, 1] - ys], fmt="o", markersize=4.5,
                        color=colour, ecolor=colour, elinewidth=1, capsize=2.5, alpha=0.9, label=label, zorder=3)
            if fit is not None:
                line_x = np.array([min(xs), max(xs)])
                ax.plot(line_x, fit.intercept + fit.slope * line_x, color=colour, linewidth=1.5)
                if measure == "score" and (without := _fit_without_source(setting, kind, x)):
                    slope, intercept, others = without
                    other_x = np.array([min(others), max(others)])
                    ax.plot(other_x, intercept + slope * other_x, color=colour, linewidth=1.2, linestyle="--")
            # Every setting's points carry their language codes, in the setting's colour.
            for text, (px, py) in _merged_labels(dict(zip(langs, zip(xs, ys))), x_span, 100.0):
                ax.annotate(text, (px, py), xytext=(4, 3 if i % 2 == 0 else -9), textcoords="offset points",
                            fontsize=7, color=colour)
        if measure == "score":
            ax.axhline(chance, color="#888888", linestyle=":", linewidth=1.2, zorder=1)
            ax.annotate(f"chance {chance:.1f}", (1, chance), xycoords=("axes fraction", "data"), xytext=(-3, -11),
                        textcoords="offset points", ha="right", fontsize=8, color="#666666")
            ax.set_ylim(*score_limits(chance, lowest))
        else:
            ax.axhline(0, color="#888888", linewidth=0.8, zorder=1)
            ax.set_ylim(*_span_at_least(min(0.0, *lowest) - 2, max(0.0, *highest) + 2, MIN_GAP_SPAN))
        ax.set_xlim(min(x.values()) - 0.06 * x_span, max(x.values()) + 0.2 * x_span)  # room for the codes
        ax.set_xlabel(f"{kind} distance from {source} (URIEL, 0 = same, 1 = nothing shared)")
        ax.set_ylabel(_AXIS_LABELS[measure].format(source=source))
        ax.grid(alpha=0.3)
        # Below the axes: inside, a legend of several settings would cover points.
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=1, frameon=False)
    missing = distances.missing(kind)
    title = (f"Zero-shot accuracy and transfer gap against {kind} distance; bars: 95% CI; "
             f"lines: OLS fit with {source} (solid) and without (dashed)")
    if missing:
        title += f"\n(no URIEL data, left out: {', '.join(missing)})"
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return to_png(fig)


def _fit_without_source(setting: SettingAnalysis, kind: str, x: dict[str, float]):
    """(slope, intercept, distances) of accuracy against distance over the languages other than
    the source, or None with fewer than two distinct distances. (Minus the gap slope.)"""
    others = [lang for lang in setting.scores if lang in x and lang != setting.source]
    xs = [x[lang] for lang in others]
    if len(set(xs)) < 2:
        return None
    slope, intercept = ols_slope(xs, [setting.scores[lang] for lang in others])
    return slope, intercept, xs


def _merged_labels(points: dict[str, tuple[float, float]], x_span: float, y_span: float,
                   near_x: float = 0.04, near_y: float = 0.045) -> list[tuple[str, tuple[float, float]]]:
    """Labels for points, with points closer than about a label's size (`near_x`, `near_y` of
    the axes' spans) sharing one label ("ar, tr") at the highest of them, so that codes do not
    print over each other."""
    groups: list[tuple[list[str], list[tuple[float, float]]]] = []
    for lang, (px, py) in sorted(points.items(), key=lambda item: item[1]):
        for names, where in groups:
            if any(abs(px - gx) / x_span < near_x and abs(py - gy) / y_span < near_y for gx, gy in where):
                names.append(lang)
                where.append((px, py))
                break
        else:
            groups.append(([lang], [(px, py)]))
    return [(", ".join(sorted(names)), max(where, key=lambda p: p[1])) for names, where in groups]


@dataclass(frozen=True)
class GridCell:
    """One intermediate x target cell: zero-shot average accuracy (points) with its 95% CI, and
    its difference from the column's cell without intermediate training (None for that cell, or
    when the column has none)."""

    accuracy: float
    ci_low: float
    ci_high: float
    difference: tuple[float, float, float] | None = None  # value, CI low, CI high

    def supported(self) -> float:
        """The part of the difference its interval supports: the CI bound nearest 0, or 0 when
        the interval contains 0. This colours the cell, so a wide interval stays pale."""
        if self.difference is None:
            return 0.0
        _, low, high = self.difference
        return low if low > 0 else high if high < 0 else 0.0

    def text(self) -> str:
        lines = [f"{self.accuracy:.1f} [{self.ci_low:.1f}, {self.ci_high:.1f}]"]
        if self.difference is not None:
            value, low, high = self.difference
            lines.append(f"\u0394 {value:+.1f} [{low:+.1f}, {high:+.1f}]")
        return "\n".join(lines)


def grid_heatmap(grids: dict[str, dict[tuple[str, str], GridCell]]) -> bytes:
    """One panel per model: intermediate task (rows) x target task (columns). Each cell shows the
    zero-shot average with its CI and its difference from no intermediate task with its CI; the
    colour (diverging, centred at 0, one scale for all panels) is the supported part of that
    difference, so an interval that contains 0 is white whatever the point estimate."""
    plt = _pyplot()
    extent = max([abs(c.supported()) for cells in grids.values() for c in cells.values()] + [1.0])
    fig, axes = plt.subplots(1, len(grids), figsize=(4.6 * len(grids) + 1.6, 4.2), squeeze=False,
                             layout="constrained")
    for ax, (model, cells) in zip(axes[0], grids.items()):
        rows = sorted({r for r, _ in cells}, key=lambda r: (r != "none", r))
        cols = sorted({c for _, c in cells})
        values = np.array([[cells[r, c].supported() if (r, c) in cells else np.nan for c in cols] for r in rows])
        image = ax.imshow(values, cmap="RdBu", aspect="auto", vmin=-extent, vmax=extent)
        for i, row in enumerate(rows):
            for j, col in enumerate(cols):
                cell = cells.get((row, col))
                if cell is None:
                    continue
                strong = abs(cell.supported()) > 0.6 * extent  # white text on the darkest colours
                ax.text(j, i, cell.text(), ha="center", va="center", fontsize=8,
                        color="white" if strong else "black")
        ax.set_xticks(range(len(cols)), cols)
        ax.set_yticks(range(len(rows)), rows)
        ax.set_xlabel("target task")
        ax.set_title(model, fontsize=9)
    axes[0][0].set_ylabel("intermediate task")
    colorbar = fig.colorbar(image, ax=axes[0].tolist(), shrink=0.9)
    colorbar.set_label("\u0394 vs no intermediate task: 95% CI bound\nnearest 0 (points; 0 = not resolved)", fontsize=8)
    return to_png(fig)


def effects_figure(rows: list[tuple[str, float, float, float, str]], unit: str) -> bytes:
    """One row per claim: (label, effect, CI low, CI high, verdict), the effect as a point with
    its 95% CI as a bar, coloured by verdict, and a line at 0."""
    plt = _pyplot()
    colours = {"supported": "#2a9d47", "contradicted": "#c0392b", "inconclusive": "#7f7f7f"}
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.4))
    for y, (label, effect, low, high, verdict) in enumerate(reversed(rows)):
        colour = colours.get(verdict, "#7f7f7f")
        ax.plot([low, high], [y, y], color=colour, linewidth=2.5)
        ax.scatter([effect], [y], color=colour, zorder=3, s=30)
    ax.axvline(0, color="#333333", linewidth=0.8)
    ax.set_yticks(range(len(rows)), [r[0] for r in reversed(rows)], fontsize=8)
    ax.set_xlabel(f"observed effect with its 95% CI ({unit})")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return to_png(fig)


def slope_figure(kind: str, source: str, series: dict[str, tuple[dict[str, float], float, float]]) -> bytes:
    """Score against one distance kind: per series (label -> ({language: (distance, score)},
    slope, intercept)) its points, language codes and OLS line."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    for colour, (label, (points, slope, intercept)) in zip(plt.get_cmap("tab10").colors, series.items()):
        xs = [x for x, _ in points.values()]
        ax.scatter(xs, [y for _, y in points.values()], color=colour, s=22, zorder=3, label=f"{label} (slope {slope:+.1f})")
        line_x = np.array([min(xs), max(xs)])
        ax.plot(line_x, intercept + slope * line_x, color=colour, linewidth=1.5)
        for lang, (x, y) in points.items():
            ax.annotate(lang, (x, y), xytext=(0, 4), textcoords="offset points", ha="center", fontsize=7, color="#333333")
    scores = [y for points, _, _ in series.values() for _, y in points.values()]
    ax.set_ylim(*_span_at_least(min(scores) - 2, max(scores) + 2, MIN_GAP_SPAN))  # noise stays small
    ax.set_xlabel(f"{kind} distance from {source} (URIEL, 0 = same, 1 = nothing shared)")
    ax.set_ylabel("score (points)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return to_png(fig)
