"""Inline SVG charts for the HTML report: no scripts, no fonts or files to fetch.

Colours are the Okabe-Ito palette (safe for colour-blind readers), and colour never
carries meaning alone: flags also differ by marker shape and are written out, groups in
the calibration chart differ by marker shape and are labelled in the legend.
"""

from __future__ import annotations

import math
from html import escape

# Okabe-Ito (yellow left out: too pale for lines on white).
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000")
SHAPES = ("circle", "square", "triangle", "diamond", "down", "plus", "cross")
FLAG_STYLE = {  # flag -> (colour, shape, text)
    "ok": ("#0072B2", "circle", "within band"),
    "disparity": ("#D55E00", "triangle", "disparity"),
    "uncertain": ("#E69F00", "diamond", "uncertain"),
    "undefined": ("#999999", "cross", "undefined"),
}
FONT = 'font-family="system-ui, sans-serif" font-size="12"'


def _f(x: float) -> str:
    return f"{x:.1f}"


def marker(shape: str, x: float, y: float, colour: str, size: float = 5.0) -> str:
    """An SVG marker of a given shape centred on (x, y)."""
    s = size
    if shape == "circle":
        return f'<circle cx="{_f(x)}" cy="{_f(y)}" r="{_f(s)}" fill="{colour}"/>'
    if shape == "square":
        return f'<rect x="{_f(x - s)}" y="{_f(y - s)}" width="{_f(2 * s)}" height="{_f(2 * s)}" fill="{colour}"/>'
    if shape in ("triangle", "down"):
        d = -1 if shape == "triangle" else 1
        pts = [(x, y + d * s * 1.2), (x - s * 1.1, y - d * s * 0.8), (x + s * 1.1, y - d * s * 0.8)]
        return f'<polygon points="{" ".join(f"{_f(a)},{_f(b)}" for a, b in pts)}" fill="{colour}"/>'
    if shape == "diamond":
        pts = [(x, y - s * 1.3), (x + s * 1.1, y), (x, y + s * 1.3), (x - s * 1.1, y)]
        return f'<polygon points="{" ".join(f"{_f(a)},{_f(b)}" for a, b in pts)}" fill="{colour}"/>'
    if shape == "plus":
        return (
            f'<path d="M{_f(x - s)},{_f(y)}H{_f(x + s)}M{_f(x)},{_f(y - s)}V{_f(y + s)}" '
            f'stroke="{colour}" stroke-width="2.5"/>'
        )
    return (
        f'<path d="M{_f(x - s)},{_f(y - s)}L{_f(x + s)},{_f(y + s)}M{_f(x - s)},{_f(y + s)}'
        f'L{_f(x + s)},{_f(y - s)}" stroke="{colour}" stroke-width="2.5"/>'
    )


def _hatch(pid: str, colour: str) -> str:
    return (
        f'<pattern id="{pid}" width="6" height="6" patternUnits="userSpaceOnUse" '
        f'patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffffff"/>'
        f'<line x1="0" y1="0" x2="0" y2="6" stroke="{colour}" stroke-width="2"/></pattern>'
    )


def disparity_chart(
    rows: list[tuple[str, str, float | None, float | None, float | None, str]],
    *,
    chart_id: str,
    band: tuple[float, float] = (0.8, 1.25),
    title: str = "",
) -> str:
    """Ratio to the reference with its interval, one row per (metric heading, group).

    ``rows``: (metric, group, ratio, low, high, flag), in display order; a new metric
    starts a heading line. Log scale; the band is shaded and hatched.
    """
    known = [v for r in rows for v in r[2:5] if v is not None and v > 0]
    lo = max(0.1, min([0.5, band[0] * 0.9, *[v * 0.9 for v in known]]))
    hi = min(10.0, max([2.0, band[1] * 1.1, *[v * 1.1 for v in known]]))
    left, plot_w, right = 230, 300, 190
    width = left + plot_w + right
    line_h, top = 20, 46

    def x(v: float) -> float:
        v = min(max(v, lo), hi)
        return left + (math.log(v) - math.log(lo)) / (math.log(hi) - math.log(lo)) * plot_w

    body, yy, current = [], top, None
    for metric, group, ratio, low, high, flag in rows:
        if metric != current:
            current = metric
            body.append(f'<text x="8" y="{_f(yy + 14)}" font-weight="bold">{escape(metric)}</text>')
            yy += line_h
        cy = yy + line_h / 2
        colour, shape, text = FLAG_STYLE.get(flag, FLAG_STYLE["undefined"])
        body.append(f'<text x="18" y="{_f(cy + 4)}">{escape(_clip(group, 34))}</text>')
        if low is not None and high is not None:
            body.append(
                f'<line x1="{_f(x(low))}" y1="{_f(cy)}" x2="{_f(x(high))}" y2="{_f(cy)}" '
                f'stroke="{colour}" stroke-width="2"/>'
            )
            for end in (low, high):
                body.append(
                    f'<line x1="{_f(x(end))}" y1="{_f(cy - 4)}" x2="{_f(x(end))}" '
                    f'y2="{_f(cy + 4)}" stroke="{colour}" stroke-width="2"/>'
                )
        if ratio is not None:
            tip = f"{group} {metric}: ratio {ratio:.2f}" + (
                f" (95% CI {low:.2f}-{high:.2f})" if low is not None and high is not None else ""
            )
            body.append(f"<g><title>{escape(tip)}</title>{marker(shape, x(ratio), cy, colour)}</g>")
            label = f"{ratio:.2f}" + (
                f" ({low:.2f}-{high:.2f})" if low is not None and high is not None else ""
            )
        else:
            label = "n/a"
        body.append(
            f'<text x="{left + plot_w + 10}" y="{_f(cy + 4)}">{escape(label)} {escape(text)}</text>'
        )
        yy += line_h
    height = yy + 34
    ticks = [t for t in (0.25, 0.5, 0.8, 1.0, 1.25, 2.0, 4.0, 8.0) if lo <= t <= hi]
    axis = [
        f'<line x1="{_f(x(t))}" y1="{top - 4}" x2="{_f(x(t))}" y2="{yy}" stroke="#dddddd"/>'
        f'<text x="{_f(x(t))}" y="{yy + 16}" text-anchor="middle">{t:g}</text>'
        for t in ticks
    ]
    band_rect = (
        f'<rect x="{_f(x(band[0]))}" y="{top - 4}" width="{_f(x(band[1]) - x(band[0]))}" '
        f'height="{yy - top + 4}" fill="url(#{chart_id}-band)" opacity="0.35"/>'
    )
    parity = (
        f'<line x1="{_f(x(1.0))}" y1="{top - 4}" x2="{_f(x(1.0))}" y2="{yy}" stroke="#000000" '
        f'stroke-dasharray="4 3"/>'
    )
    legend, lx = [], 8
    for flag in ("ok", "disparity", "uncertain"):
        colour, shape, text = FLAG_STYLE[flag]
        legend.append(marker(shape, lx + 6, 14, colour))
        legend.append(f'<text x="{lx + 16}" y="18">{text}</text>')
        lx += 110
    legend.append(
        f'<rect x="{lx}" y="7" width="22" height="14" fill="url(#{chart_id}-band)" opacity="0.6"/>'
        f'<text x="{lx + 28}" y="18">{band[0]}-{band[1]} band</text>'
        f'<text x="{lx + 130}" y="18">- - parity (1)</text>'
    )
    return (
        f'<svg role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" {FONT} aria-label="{escape(title or "disparity chart")}">'
        f"<title>{escape(title or 'Ratio to the reference group')}</title>"
        f"<defs>{_hatch(chart_id + '-band', '#009E73')}</defs>"
        f"{band_rect}{''.join(axis)}{parity}{''.join(legend)}{''.join(body)}"
        f'<text x="{left + plot_w / 2}" y="{height - 4}" text-anchor="middle">'
        f"ratio to the reference group (log scale)</text></svg>"
    )


def calibration_chart(
    series: list[tuple[str, list[tuple[float, float, float | None, float | None]]]],
    *,
    title: str = "",
) -> str:
    """Observed vs mean predicted rate per score bin, one line per group.

    ``series``: (group, [(mean predicted, observed, low, high), ...]).
    """
    size, pad_l, pad_b, pad_t = 300, 44, 40, 12
    legend_w = 260
    width, height = pad_l + size + 20 + legend_w, pad_t + size + pad_b

    def px(v: float) -> float:
        return pad_l + v * size

    def py(v: float) -> float:
        return pad_t + (1 - v) * size

    parts = [
        f'<rect x="{pad_l}" y="{pad_t}" width="{size}" height="{size}" fill="none" stroke="#999999"/>',
        f'<line x1="{_f(px(0))}" y1="{_f(py(0))}" x2="{_f(px(1))}" y2="{_f(py(1))}" '
        f'stroke="#777777" stroke-dasharray="5 4"/>',
    ]
    for t in (0.0, 0.25, 0.5, 0.75, 1.0):
        parts.append(
            f'<text x="{_f(px(t))}" y="{pad_t + size + 15}" text-anchor="middle">{t:g}</text>'
        )
        parts.append(f'<text x="{pad_l - 6}" y="{_f(py(t) + 4)}" text-anchor="end">{t:g}</text>')
    parts.append(
        f'<text x="{_f(px(0.5))}" y="{height - 6}" text-anchor="middle">mean predicted</text>'
        f'<text x="12" y="{_f(py(0.5))}" text-anchor="middle" '
        f'transform="rotate(-90 12 {_f(py(0.5))})">observed</text>'
    )
    for i, (group, points) in enumerate(series):
        colour, shape = PALETTE[i % len(PALETTE)], SHAPES[i % len(SHAPES)]
        dash = ("", ' stroke-dasharray="6 3"', ' stroke-dasharray="2 3"')[(i // len(PALETTE)) % 3]
        if len(points) > 1:
            path = " ".join(f"{_f(px(p))},{_f(py(o))}" for p, o, _, _ in points)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="1.5"{dash}/>'
            )
        for p, o, lo, hi in points:
            if lo is not None and hi is not None:
                parts.append(
                    f'<line x1="{_f(px(p))}" y1="{_f(py(lo))}" x2="{_f(px(p))}" y2="{_f(py(hi))}" '
                    f'stroke="{colour}" stroke-width="1"/>'
                )
            tip = f"{group}: predicted {p:.2f}, observed {o:.2f}"
            parts.append(
                f"<g><title>{escape(tip)}</title>{marker(shape, px(p), py(o), colour, 4)}</g>"
            )
        ly = pad_t + 10 + i * 18
        lx = pad_l + size + 24
        parts.append(marker(shape, lx, ly, colour, 4))
        parts.append(f'<text x="{lx + 10}" y="{_f(ly + 4)}">{escape(_clip(group, 38))}</text>')
    return (
        f'<svg role="img" width="{width}" height="{max(height, 30 + 18 * len(series))}" '
        f'viewBox="0 0 {width} {max(height, 30 + 18 * len(series))}" {FONT} '
        f'aria-label="{escape(title or "calibration chart")}">'
        f"<title>{escape(title or 'Calibration by group')}</title>{''.join(parts)}</svg>"
    )


def share_chart(
    rows: list[tuple[str, float | None, float | None, float | None, str, bool]],
    *,
    chart_id: str,
    title: str = "",
) -> str:
    """Horizontal bars of a share in [0, 1]: (group, share, low, high, flag, is_reference)."""
    left, plot_w, right = 230, 280, 220
    width, line_h, top = left + plot_w + right, 22, 8
    height = top + line_h * len(rows) + 28
    parts = [f"<defs>{_hatch(chart_id + '-ref', '#0072B2')}</defs>"]
    for t in (0.0, 0.5, 1.0):
        xt = left + t * plot_w
        parts.append(
            f'<line x1="{_f(xt)}" y1="{top}" x2="{_f(xt)}" y2="{top + line_h * len(rows)}" stroke="#dddddd"/>'
            f'<text x="{_f(xt)}" y="{top + line_h * len(rows) + 14}" text-anchor="middle">{t:.0%}</text>'
        )
    for i, (group, share, low, high, flag, is_ref) in enumerate(rows):
        cy = top + i * line_h + line_h / 2
        parts.append(f'<text x="8" y="{_f(cy + 4)}">{escape(_clip(group, 34))}</text>')
        if share is None:
            parts.append(f'<text x="{left + 4}" y="{_f(cy + 4)}">unknown</text>')
            continue
        fill = f"url(#{chart_id}-ref)" if is_ref else FLAG_STYLE.get(flag, FLAG_STYLE["ok"])[0]
        parts.append(
            f'<rect x="{left}" y="{_f(cy - 7)}" width="{_f(share * plot_w)}" height="14" '
            f'fill="{fill}" stroke="#0072B2" stroke-width="0.5"/>'
        )
        if low is not None and high is not None:
            parts.append(
                f'<line x1="{_f(left + low * plot_w)}" y1="{_f(cy)}" x2="{_f(left + high * plot_w)}" '
                f'y2="{_f(cy)}" stroke="#000000" stroke-width="1.5"/>'
            )
        note = (
            "reference"
            if is_ref
            else {"disparity": "gap", "uncertain": "uncertain gap"}.get(flag, "")
        )
        interval = f" ({low:.0%}-{high:.0%})" if low is not None and high is not None else ""
        parts.append(
            f'<text x="{left + plot_w + 8}" y="{_f(cy + 4)}">{share:.0%}{interval} {escape(note)}</text>'
        )
    return (
        f'<svg role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" {FONT} aria-label="{escape(title or "coverage chart")}">'
        f"<title>{escape(title or 'Coverage by group')}</title>{''.join(parts)}</svg>"
    )


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "\u2026"
