"""The SVG charts, read back as XML: what was drawn, where, and what was escaped."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta

from deliverwatch.service.dashboard import charts

SVG = "{http://www.w3.org/2000/svg}"
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def points(values: list[float | None]) -> list[tuple[datetime, float | None]]:
    return [(T0 + timedelta(days=n), value) for n, value in enumerate(values)]


def coordinates(path: ET.Element) -> list[list[tuple[float, float]]]:
    """The runs of a path's ``d`` (each M starts one)."""
    runs: list[list[tuple[float, float]]] = []
    for command, x, y in re.findall(r"([ML])([\d.]+),([\d.]+)", path.get("d", "")):
        if command == "M":
            runs.append([])
        runs[-1].append((float(x), float(y)))
    return runs


def test_line_chart_draws_each_point_inside_the_plot() -> None:
    svg = charts.line_chart([charts.Line("bounce", points([0.01, 0.02, 0.03, 0.0]))])
    root = ET.fromstring(svg)
    (path,) = root.iter(f"{SVG}path")
    assert path.get("data-points") == "4"
    (run,) = coordinates(path)
    assert len(run) == 4
    xs, ys = [x for x, _ in run], [y for _, y in run]
    assert xs == sorted(xs) and xs[0] == 56 and xs[-1] == 640 - 12
    assert ys[2] < ys[1] < ys[0] < ys[3]  # higher rate, higher up (smaller y)
    assert ys[3] == 200 - 24  # zero sits on the x axis


def test_gaps_break_the_line_and_lone_points_get_a_dot() -> None:
    svg = charts.line_chart([charts.Line("x", points([0.1, 0.2, None, 0.1, None, None, 0.3]))])
    root = ET.fromstring(svg)
    (path,) = root.iter(f"{SVG}path")
    assert [len(run) for run in coordinates(path)] == [2, 1, 1]
    assert len(list(root.iter(f"{SVG}circle"))) == 2


def test_thresholds_are_dashed_lines_at_their_value_and_set_the_scale() -> None:
    svg = charts.line_chart(
        [charts.Line("complaints", points([0.0005, 0.0007]))],
        thresholds=[charts.Threshold("warning", 0.001), charts.Threshold("critical", 0.003)],
    )
    root = ET.fromstring(svg)
    lines = [el for el in root.iter(f"{SVG}line") if "threshold" in el.get("class", "")]
    assert [float(el.get("data-value", "")) for el in lines] == [0.001, 0.003]
    assert all(el.get("stroke-dasharray") for el in lines)
    critical_y = float(lines[1].get("y1", ""))
    assert 10 <= critical_y < 200 - 24  # inside the plot, though the data stays far below it
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert "0.30%" in labels or "0.35%" in labels or "0.40%" in labels


def test_axis_labels_show_times_and_percentages() -> None:
    svg = charts.line_chart([charts.Line("x", points([0.1] * 10))], time_format="%b %d")
    labels = [t.text for t in ET.fromstring(svg).iter(f"{SVG}text")]
    assert "Nov 01" in labels and "Nov 10" in labels and "Nov 05" in labels
    assert "0%" in labels and any(label and label.endswith("%") for label in labels[1:])


def test_names_are_escaped() -> None:
    svg = charts.line_chart([charts.Line('<script>"x"</script>', points([0.1]))], title="a&b")
    assert "<script>" not in svg
    root = ET.fromstring(svg)  # still well-formed
    assert root.get("aria-label") == "a&b"


def test_empty_and_flat_charts_still_draw_axes() -> None:
    root = ET.fromstring(charts.line_chart([charts.Line("x", points([None, None]))]))
    (path,) = root.iter(f"{SVG}path")
    assert path.get("d") == "" and path.get("data-points") == "0"
    assert [el for el in root.iter(f"{SVG}line") if el.get("class") == "axis"]
    root = ET.fromstring(charts.line_chart([]))
    assert not list(root.iter(f"{SVG}path"))


def test_sparkline_scales_to_the_threshold() -> None:
    svg = charts.sparkline([0.001, 0.002, None, 0.004], threshold=0.004, label="bounce")
    root = ET.fromstring(svg)
    (path,) = root.iter(f"{SVG}path")
    runs = coordinates(path)
    assert [len(run) for run in runs] == [2, 1]
    assert runs[1][0][1] == 2.0  # the last value is at the threshold: the top
    assert path.get("stroke") == "#c0392b"  # at or over the threshold: red
    calm = ET.fromstring(charts.sparkline([0.001, 0.001], threshold=0.01))
    assert next(calm.iter(f"{SVG}path")).get("stroke") == charts.PALETTE[0]


def test_nice_ticks_and_percent() -> None:
    assert charts.nice_ticks(0.033) == [0.0, 0.01, 0.02, 0.03, 0.04]
    assert charts.nice_ticks(1.0) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert charts.nice_ticks(0) == [0.0, 1.0]
    assert charts.percent(0.0012) == "0.12%"
    assert charts.percent(0.05) == "5.0%"
    assert charts.percent(0.5) == "50%"
    assert charts.percent(0) == "0%"
