"""The report's figures do not turn noise into findings: accuracy axes from chance to 100, a
minimum span for transfer gaps, the slope without the source language, and heatmap colours that
show only what a difference's interval supports."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from xstilts.analysis.distance_fits import analyse_setting
from xstilts.analysis.figures import (
    GridCell,
    _fit_without_source,
    _span_at_least,
    distance_scatter,
    grid_heatmap,
    score_limits,
)
from xstilts.analysis.runs import group_by_setting, load_run
from xstilts.typology.distances import Distances

LANGS = ["en", "de", "ar", "sw"]
DISTANCES = Distances("en", ("syntactic",), {"en": {"syntactic": 0.0}, "de": {"syntactic": 0.4},
                                             "ar": {"syntactic": 0.55}, "sw": {"syntactic": 0.7}})


def test_a_wide_interval_does_not_colour_a_cell():
    noisy = GridCell(40.0, 35.0, 45.0, (2.0, -13.0, 15.0))  # the issue's +2.0 [-13, +15]
    resolved = GridCell(45.0, 42.0, 48.0, (8.0, 3.0, 13.0))
    worse = GridCell(30.0, 27.0, 33.0, (-6.0, -9.0, -2.0))
    assert noisy.supported() == 0 and resolved.supported() == 3 and worse.supported() == -2
    assert GridCell(40.0, 35.0, 45.0).supported() == 0  # the baseline cell itself
    assert noisy.text() == "40.0 [35.0, 45.0]\n\u0394 +2.0 [-13.0, +15.0]"


def test_heatmap_renders_with_its_colour_bar_label(tmp_path):
    cells = {("none", "xnli"): GridCell(40.0, 38.0, 42.0), ("mnli", "xnli"): GridCell(48.0, 46.0, 50.0, (8.0, 5.0, 11.0)),
             ("qqp", "xnli"): GridCell(42.0, 30.0, 54.0, (2.0, -13.0, 15.0))}
    image = Image.open(io.BytesIO(grid_heatmap({"e5": cells})))
    width, height = image.size
    assert width > 600 and height > 300
    # bbox_inches="tight": the colour bar's label is inside the image, so its right edge is not blank
    # background only up to the border (the label's text reaches within a few pixels of it).
    rightmost_ink = max(x for x in range(width) for y in range(0, height, 3)
                        if sum(image.getpixel((x, y))[:3]) < 600)
    assert rightmost_ink < width - 2


def test_axis_ranges():
    assert score_limits(33.3, [40.0, 52.0]) == pytest.approx((30.3, 101))
    assert score_limits(50.0, [44.0]) == pytest.approx((41.0, 101))  # an interval below chance stays visible
    assert _span_at_least(1.0, 2.0, 20.0) == (-8.5, 11.5)  # 1 point of gap noise is not a slope
    assert _span_at_least(-5.0, 30.0, 20.0) == (-5.0, 30.0)


def test_slope_without_the_source_is_minus_the_gap_slope(make_run):
    run = load_run(make_run("a", {"en": 18, "de": 14, "ar": 13, "sw": 10}, n=20))
    setting = analyse_setting(group_by_setting([run])[0], LANGS, DISTANCES, n_boot=200, seed=0)
    slope, _, xs = _fit_without_source(setting, "syntactic", DISTANCES.known("syntactic"))
    assert xs == [0.4, 0.55, 0.7]
    assert slope == pytest.approx(-setting.fits["syntactic", "gap"].slope)
    assert slope != pytest.approx(setting.fits["syntactic", "score"].slope)  # en at distance 0 changes it
    assert distance_scatter("syntactic", [setting], DISTANCES).startswith(b"\x89PNG")
