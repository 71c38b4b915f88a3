"""Charts as SVG text, drawn on the server by pure functions: no JavaScript library, no CDN,
and a test can read the path a chart drew.

    svg = line_chart([Line("bounce", points)], thresholds=[Threshold("warning", 0.02)])
    svg = sparkline([0.01, None, 0.02])

A value of None is a gap (nothing sent in that bucket): the line stops and starts again
after it rather than being drawn through zero. Y is a fraction shown as a percentage unless
another ``y_format`` is given.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from html import escape

#: Line colours (colour-blind-safe, Okabe–Ito), in series order.
PALETTE = ("#0072b2", "#d55e00", "#009e73", "#cc79a7", "#e69f00", "#56b4e9", "#000000")
THRESHOLD_COLOURS = {"warning": "#b8860b", "critical": "#c0392b"}


@dataclass(frozen=True, slots=True)
class Line:
    name: str
    points: Sequence[tuple[datetime, float | None]]


@dataclass(frozen=True, slots=True)
class Threshold:
    kind: str  # "warning" | "critical" (the colour)
    value: float


def percent(value: float) -> str:
    """0.0123 → "1.23%"; fewer decimals as the value grows."""
    scaled = value * 100
    if scaled == 0:
        return "0%"
    digits = 2 if abs(scaled) < 1 else 1 if abs(scaled) < 10 else 0
    return f"{scaled:.{digits}f}%"


def nice_ticks(top: float, count: int = 4) -> list[float]:
    """Round tick values from 0 to at least ``top`` (1, 2, 2.5 or 5 times a power of ten)."""
    if top <= 0 or not math.isfinite(top):
        return [0.0, 1.0]
    raw = top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    ticks = [0.0]
    while ticks[-1] < top - 1e-12:
        ticks.append(round(ticks[-1] + step, 12))
    return ticks


def segments(values: Sequence[float | None]) -> list[list[tuple[int, float]]]:
    """Runs of consecutive known values, as (index, value) pairs."""
    runs: list[list[tuple[int, float]]] = []
    current: list[tuple[int, float]] = []
    for index, value in enumerate(values):
        if value is None:
            if current:
                runs.append(current)
            current = []
        else:
            current.append((index, value))
    if current:
        runs.append(current)
    return runs


def line_chart(
    lines: Sequence[Line],
    *,
    thresholds: Sequence[Threshold] = (),
    width: int = 640,
    height: int = 200,
    title: str = "",
    y_format: Callable[[float], str] = percent,
    time_format: str = "%b %d",
) -> str:
    """A chart of ``lines`` sharing one time axis (the points of the first line), with a
    dashed horizontal line per threshold, y ticks and three time labels."""
    left, right, top, bottom = 56, 12, 10, 24
    plot_w, plot_h = width - left - right, height - top - bottom
    times = [at for at, _ in lines[0].points] if lines else []
    count = max(len(times), 1)
    known = [v for line in lines for _, v in line.points if v is not None]
    highest = max([*known, *(t.value for t in thresholds), 0.0])
    headroom = highest * 1.1 if highest > 0 else 0.01
    ticks = nice_ticks(min(headroom, 1.0) if highest <= 1 else headroom)  # rates stop at 100%
    y_top = ticks[-1]

    def x(index: int) -> float:
        return left + (plot_w * index / (count - 1) if count > 1 else plot_w / 2)

    def y(value: float) -> float:
        return top + plot_h - plot_h * min(max(value, 0.0), y_top) / y_top

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-label="{escape(title or ", ".join(line.name for line in lines))}">'
    ]
    if title:
        parts.append(f"<title>{escape(title)}</title>")
    for tick in ticks:  # grid and y axis labels
        ty = y(tick)
        parts.append(
            f'<line class="grid" x1="{left}" y1="{ty:.1f}" x2="{width - right}" y2="{ty:.1f}" '
            f'stroke="#e3e6ea" stroke-width="1"/>'
            f'<text class="tick" x="{left - 6}" y="{ty + 4:.1f}" text-anchor="end" '
            f'font-size="11" fill="#5f6b7a">{escape(y_format(tick))}</text>'
        )
    parts.append(
        f'<line class="axis" x1="{left}" y1="{top + plot_h}" x2="{width - right}" '
        f'y2="{top + plot_h}" stroke="#8a94a3" stroke-width="1"/>'
        f'<line class="axis" x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" '
        f'stroke="#8a94a3" stroke-width="1"/>'
    )
    if times:
        for index in sorted({0, (len(times) - 1) // 2, len(times) - 1}):
            anchor = "start" if index == 0 else "end" if index == len(times) - 1 else "middle"
            parts.append(
                f'<text class="tick" x="{x(index):.1f}" y="{height - 6}" text-anchor="{anchor}" '
                f'font-size="11" fill="#5f6b7a">{escape(times[index].strftime(time_format))}</text>'
            )
    for threshold in thresholds:
        ty = y(threshold.value)
        colour = THRESHOLD_COLOURS.get(threshold.kind, "#888888")
        label = f"{threshold.kind} {y_format(threshold.value)}"
        parts.append(
            f'<line class="threshold {escape(threshold.kind)}" data-value="{threshold.value}" '
            f'x1="{left}" y1="{ty:.1f}" x2="{width - right}" y2="{ty:.1f}" stroke="{colour}" '
            f'stroke-width="1.5" stroke-dasharray="6 4"><title>{escape(label)}</title></line>'
        )
    for number, line in enumerate(lines):
        colour = PALETTE[number % len(PALETTE)]
        values = [v for _, v in line.points]
        commands = []
        for run in segments(values):
            commands.append(
                " ".join(
                    f"{'M' if i == 0 else 'L'}{x(index):.1f},{y(value):.1f}"
                    for i, (index, value) in enumerate(run)
                )
            )
        data = sum(1 for v in values if v is not None)
        parts.append(
            f'<path class="series" data-series="{escape(line.name)}" data-points="{data}" '
            f'd="{" ".join(commands)}" fill="none" stroke="{colour}" stroke-width="2" '
            f'stroke-linejoin="round"><title>{escape(line.name)}</title></path>'
        )
        for run in segments(values):  # a lone point has no line: mark it
            if len(run) == 1:
                index, value = run[0]
                parts.append(
                    f'<circle cx="{x(index):.1f}" cy="{y(value):.1f}" r="2.5" fill="{colour}"/>'
                )
    parts.append("</svg>")
    return "".join(parts)


def sparkline(
    values: Sequence[float | None],
    *,
    width: int = 110,
    height: int = 26,
    threshold: float | None = None,
    label: str = "",
) -> str:
    """A small trend line without axes; the threshold (when given) as a faint dashed line
    that also sets the scale, so a line near the top means near the limit."""
    pad = 2
    known = [v for v in values if v is not None]
    top = max([*known, threshold or 0.0, 1e-9])
    count = max(len(values), 1)

    def x(index: int) -> float:
        return pad + ((width - 2 * pad) * index / (count - 1) if count > 1 else 0)

    def y(value: float) -> float:
        return pad + (height - 2 * pad) * (1 - min(max(value, 0.0), top) / top)

    commands = [
        " ".join(f"{'M' if i == 0 else 'L'}{x(n):.1f},{y(v):.1f}" for i, (n, v) in enumerate(run))
        for run in segments(values)
    ]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="sparkline" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'aria-label="{escape(label)}">'
    ]
    if threshold is not None:
        ty = y(threshold)
        parts.append(
            f'<line class="threshold" x1="0" y1="{ty:.1f}" x2="{width}" y2="{ty:.1f}" '
            f'stroke="#c0392b" stroke-opacity="0.5" stroke-dasharray="3 3"/>'
        )
    last = next((v for v in reversed(values) if v is not None), None)
    colour = (
        "#c0392b"
        if threshold is not None and last is not None and last >= threshold
        else (PALETTE[0])
    )
    parts.append(
        f'<path class="series" data-points="{len(known)}" d="{" ".join(commands)}" fill="none" '
        f'stroke="{colour}" stroke-width="1.5"/>'
    )
    if label:
        parts.append(f"<title>{escape(label)}</title>")
    parts.append("</svg>")
    return "".join(parts)
