"""Report figures (matplotlib, rendered off-screen to PNG bytes)."""

from __future__ import annotations

import io

import numpy as np

from xstilts.analysis.distance_fits import SettingAnalysis
from xstilts.typology.distances import Distances

_AXIS_LABELS = {
    "score": "accuracy (%)",
    "gap": "transfer gap (points below {source})",
}


def _pyplot():
    import matplotlib  # imported here: the backend must be chosen before pyplot is imported

    matplotlib.use("Agg")  # no display: figures only become PNG bytes
    import matplotlib.pyplot as plt  # after the backend is set

    return plt


def to_png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110)
    _pyplot().close(fig)
    return buffer.getvalue()


def distance_scatter(kind: str, settings: list[SettingAnalysis], distances: Distances) -> bytes:
    """Accuracy and transfer gap against one distance kind: a colour per setting with its OLS
    line; each language's code is written once, beside its highest point."""
    plt = _pyplot()
    x = distances.known(kind)
    source = settings[0].source
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.2))
    for ax, measure in zip(axes, ("score", "gap")):
        highest: dict[str, float] = {}
        for colour, setting in zip(plt.get_cmap("tab10").colors, settings):
            values = setting.scores if measure == "score" else setting.gaps()
            langs = [lang for lang in values if lang in x]
            xs, ys = [x[lang] for lang in langs], [values[lang] for lang in langs]
            fit = setting.fits.get((kind, measure))
            label = setting.label if fit is None else f"{setting.label} (slope {fit.slope:+.1f})"
            ax.scatter(xs, ys, s=22, color=colour, label=label, zorder=3)
            if fit is not None:
                line_x = np.array([min(xs), max(xs)])
                ax.plot(line_x, fit.intercept + fit.slope * line_x, color=colour, linewidth=1.5)
            for lang, y in zip(langs, ys):
                highest[lang] = max(y, highest.get(lang, -np.inf))
        ax.margins(x=0.06, y=0.12)  # room for the language codes above the points
        spans = (np.ptp(ax.get_xlim()), np.ptp(ax.get_ylim()))
        for text, (label_x, label_y) in _merged_labels({lang: (x[lang], y) for lang, y in highest.items()}, *spans):
            ax.annotate(text, (label_x, label_y), xytext=(0, 5), textcoords="offset points",
                        ha="center", fontsize=8, color="#333333")
        ax.set_xlabel(f"{kind} distance from {source} (URIEL, 0 = same, 1 = nothing shared)")
        ax.set_ylabel(_AXIS_LABELS[measure].format(source=source))
        ax.grid(alpha=0.3)
        # Below the axes: inside, a legend of several settings would cover points.
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, frameon=False)
    missing = distances.missing(kind)
    title = f"Zero-shot accuracy and transfer gap against {kind} distance"
    if missing:
        title += f" (no URIEL data, left out: {', '.join(missing)})"
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return to_png(fig)


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


def grid_heatmap(grids: dict[str, dict[tuple[str, str], float]]) -> bytes:
    """One panel per model: intermediate task (rows) x target task (columns), zero-shot average;
    one colour scale for all panels, so colours compare across models."""
    plt = _pyplot()
    every = [v for cells in grids.values() for v in cells.values()]
    fig, axes = plt.subplots(1, len(grids), figsize=(3.6 * len(grids) + 1.2, 3.6), squeeze=False,
                             layout="constrained")
    for ax, (model, cells) in zip(axes[0], grids.items()):
        rows = sorted({r for r, _ in cells}, key=lambda r: (r != "none", r))
        cols = sorted({c for _, c in cells})
        values = np.array([[cells.get((r, c), np.nan) for c in cols] for r in rows])
        image = ax.imshow(values, cmap="viridis", aspect="auto", vmin=min(every), vmax=max(every))
        for (i, j), value in np.ndenumerate(values):
            if not np.isnan(value):
                red, green, blue, _ = image.cmap(image.norm(value))
                light = 0.299 * red + 0.587 * green + 0.114 * blue > 0.5  # dark text on light cells
                ax.text(j, i, f"{value:.1f}", ha="center", va="center", color="black" if light else "white",
                        fontsize=10)
        ax.set_xticks(range(len(cols)), cols)
        ax.set_yticks(range(len(rows)), rows)
        ax.set_xlabel("target task")
        ax.set_title(model, fontsize=9)
    axes[0][0].set_ylabel("intermediate task")
    fig.colorbar(image, ax=axes[0].tolist(), label="zero-shot average accuracy (%)")
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
    ax.set_xlabel(f"{kind} distance from {source} (URIEL, 0 = same, 1 = nothing shared)")
    ax.set_ylabel("score (points)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return to_png(fig)
