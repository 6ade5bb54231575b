"""Server-rendered SVG bar charts: no JavaScript, no build step, readable without a network."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape


@dataclass(frozen=True)
class Series:
    label: str
    values: Sequence[float]


def nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 × 10^n at or above value (for a tidy axis)."""
    if value <= 0:
        return 1.0
    power = 10 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 5, 10) if step * power >= value)


def _number(value: float) -> str:
    return f"{value:,.0f}".replace(",", " ") if value == int(value) else f"{value:,.1f}"


def _clip(label: str, length: int) -> str:
    return label if len(label) <= length else label[: length - 1] + "…"


def _legend(series: Sequence[Series], x: float) -> str:
    parts = []
    for index, s in enumerate(series):
        parts.append(f'<rect x="{x:.0f}" y="4" width="10" height="10" class="s{index}"/>'
                     f'<text x="{x + 14:.0f}" y="13">{escape(s.label)}</text>')
        x += 24 + 7 * len(s.label)
    return "".join(parts)


def column_chart(title: str, categories: Sequence[str], series: Sequence[Series], *,
                 stacked: bool = False, width: int = 760, height: int = 240) -> Markup:
    """Vertical bars per category; series side by side, or stacked."""
    left, right, top, bottom = 44, 8, 24, 36
    plot_w, plot_h = width - left - right, height - top - bottom
    totals = [sum(s.values[i] for s in series) if stacked else max((s.values[i] for s in series),
              default=0) for i in range(len(categories))]
    peak = nice_ceiling(max(totals, default=0))
    slot = plot_w / max(len(categories), 1)
    label_every = max(1, math.ceil(len(categories) / 14))
    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
           f"<title>{escape(title)}</title>", _legend(series, left)]
    for tick in range(5):
        value = peak * tick / 4
        y = top + plot_h - plot_h * tick / 4
        out.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>'
                   f'<text class="axis" x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">'
                   f"{_number(value)}</text>")
    bar_w = slot * 0.8 / (1 if stacked else max(len(series), 1))
    for i, category in enumerate(categories):
        x0 = left + slot * i + slot * 0.1
        base = 0.0
        for index, s in enumerate(series):
            value = s.values[i]
            h = plot_h * value / peak
            x = x0 if stacked else x0 + bar_w * index
            y = top + plot_h - h - (plot_h * base / peak if stacked else 0)
            out.append(f'<rect class="s{index}" x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" '
                       f'height="{h:.1f}"><title>{escape(category)} · {escape(s.label)}: '
                       f"{_number(value)}</title></rect>")
            base += value
        if i % label_every == 0:
            out.append(f'<text class="axis" x="{x0 + slot * 0.4:.1f}" y="{height - bottom + 14}" '
                       f'text-anchor="middle">{escape(category)}</text>')
    out.append("</svg>")
    return Markup("".join(out))


def bar_chart(title: str, categories: Sequence[str], series: Sequence[Series], *,
              width: int = 760) -> Markup:
    """Horizontal bars, one group per category (funnel stages, channels)."""
    label_w, right, top, row_gap = 210, 60, 24, 6
    bar_h = 14
    group_h = bar_h * len(series) + row_gap * 2
    height = top + group_h * max(len(categories), 1) + 4
    plot_w = width - label_w - right
    peak = nice_ceiling(max((v for s in series for v in s.values), default=0))
    out = [f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
           f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
           f"<title>{escape(title)}</title>", _legend(series, label_w)]
    for i, category in enumerate(categories):
        y0 = top + group_h * i + row_gap
        out.append(f'<text x="{label_w - 6}" y="{y0 + group_h / 2 - 2:.1f}" text-anchor="end">'
                   f"{escape(_clip(category, 30))}</text>")
        for index, s in enumerate(series):
            value = s.values[i]
            w = plot_w * value / peak
            y = y0 + bar_h * index
            out.append(f'<rect class="s{index}" x="{label_w}" y="{y:.1f}" width="{w:.1f}" '
                       f'height="{bar_h - 2}"><title>{escape(category)} · {escape(s.label)}: '
                       f'{_number(value)}</title></rect><text class="axis" x="{label_w + w + 4:.1f}" '
                       f'y="{y + bar_h - 4:.1f}">{_number(value)}</text>')
    out.append("</svg>")
    return Markup("".join(out))
