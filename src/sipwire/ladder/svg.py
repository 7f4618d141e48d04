"""A ladder as a self-contained SVG image, and an HTML page holding it.

Lanes are vertical lines headed by their address; each message is an arrow
labelled with its first line, its time on the left.  Final responses are
drawn bold, retransmissions dashed and marked "again".  Each arrow's
``<title>`` holds the whole message (a tooltip in a browser); the HTML page
lists every message under the picture.  No script, font or stylesheet is
fetched from anywhere.
"""

from __future__ import annotations

import datetime
import html

from .model import Arrow, Ladder

__all__ = ["render_html", "render_svg"]

_LEFT = 110     # the time column
_GAP = 230      # between lanes
_TOP = 70       # the lane headers
_ROW = 34       # between arrows
_MARGIN = 40

_STYLE = """
text { font-family: DejaVu Sans Mono, Menlo, Consolas, monospace; font-size: 12px; }
.lane { stroke: #9aa4b1; stroke-width: 1.5; }
.head { font-weight: bold; fill: #1f2d3d; }
.time { fill: #5b6776; font-size: 11px; }
.arrow line { stroke: #2463b4; stroke-width: 1.4; }
.arrow text { fill: #16324f; }
.response line { stroke: #2f7d32; }
.response text { fill: #1e4d21; }
.final line { stroke-width: 2.6; }
.final text { font-weight: bold; }
.error line { stroke: #b3261e; }
.error text { fill: #8c1d18; }
.again line { stroke: #c77700; stroke-dasharray: 6 4; }
.again text { fill: #8a5300; font-style: italic; }
"""


def _clock(when: float) -> str:
    stamp = datetime.datetime.fromtimestamp(when, datetime.UTC)
    return stamp.strftime("%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}"


def _classes(arrow: Arrow) -> str:
    names = ["arrow"]
    if not arrow.request:
        names.append("response")
    if arrow.final:
        names.append("final")
        if arrow.status is not None and arrow.status >= 300:
            names.append("error")
    if arrow.retransmission:
        names.append("again")
    return " ".join(names)


def _short(text: str, room: int) -> str:
    return text if len(text) <= room else text[:max(room - 1, 1)] + "…"


def render_svg(ladder: Ladder) -> str:
    """The ladder of one call as an SVG document (text)."""
    count = max(len(ladder.lanes), 1)
    width = _LEFT + (count - 1) * _GAP + 2 * _MARGIN + 120
    height = _TOP + (len(ladder.arrows) + 1) * _ROW + _MARGIN
    xs = [_LEFT + _MARGIN + 60 + i * _GAP for i in range(len(ladder.lanes))]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img">',
           f"<title>SIP ladder of Call-ID {html.escape(ladder.call_id)}</title>",
           f"<style>{_STYLE}</style>",
           '<defs><marker id="head" viewBox="0 0 10 10" refX="10" refY="5" '
           'markerWidth="10" markerHeight="10" markerUnits="userSpaceOnUse" '
           'orient="auto-start-reverse">'
           '<path d="M0,0 L10,5 L0,10 z" fill="context-stroke"/></marker></defs>',
           f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
           f'<text x="{_MARGIN}" y="24" class="head">Call-ID '
           f"{html.escape(ladder.call_id or '(none)')}</text>"]
    bottom = height - _MARGIN // 2
    for lane, x in zip(ladder.lanes, xs, strict=True):
        out.append(f'<text x="{x}" y="{_TOP - 16}" text-anchor="middle" class="head">'
                   f"{html.escape(lane)}</text>")
        others = ladder.addresses(lane)
        if others:  # the element's other ports (another transport, a connection)
            out.append(f'<text x="{x}" y="{_TOP - 32}" text-anchor="middle" class="time">'
                       f"{html.escape(_short('also ' + ', '.join(others), 32))}</text>")
        out.append(f'<line class="lane" x1="{x}" y1="{_TOP - 8}" x2="{x}" y2="{bottom}"/>')
    for row, arrow in enumerate(ladder.arrows, start=1):
        out.append(_arrow(arrow, ladder, xs, _TOP + row * _ROW))
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _arrow(arrow: Arrow, ladder: Ladder, xs: list[int], y: int) -> str:
    a, b = xs[ladder.lane(arrow.source)], xs[ladder.lane(arrow.destination)]
    again = " (again)" if arrow.retransmission else ""
    label = arrow.short_label
    tip = html.escape(arrow.data.decode("utf-8", "replace"))
    parts = [f'<g class="{_classes(arrow)}"><title>{tip}</title>',
             f'<text x="{_MARGIN - 30}" y="{y + 4}" class="time">{_clock(arrow.time)}</text>']
    if a == b:
        parts.append(f'<path d="M{a},{y - 6} h40 v12 h-38" fill="none" stroke="#2463b4" '
                     'marker-end="url(#head)"/>')
        parts.append(f'<text x="{a + 46}" y="{y + 4}">'
                     f"{html.escape(_short(label, 40) + again)}</text>")
    else:
        room = max(abs(b - a) // 7 - 2 - len(again), 8)
        parts.append(f'<line x1="{a}" y1="{y}" x2="{b}" y2="{y}" marker-end="url(#head)"/>')
        parts.append(f'<text x="{(a + b) // 2}" y="{y - 6}" text-anchor="middle">'
                     f"{html.escape(_short(label, room) + again)}</text>")
    parts.append("</g>")
    return "".join(parts)


def render_html(ladders: list[Ladder], *, title: str = "SIP ladder") -> str:
    """A page with the SVG of each call and, under it, every message in full."""
    body = []
    for ladder in ladders:
        body.append("<section>")
        body.append(render_svg(ladder))
        body.append("<ol>")
        for arrow in ladder.arrows:
            flag = " (again)" if arrow.retransmission else ""
            body.append(
                f"<li><details><summary>{_clock(arrow.time)} {html.escape(arrow.source)} "
                f"&#8594; {html.escape(arrow.destination)} {arrow.transport}: "
                f"{html.escape(arrow.label)}{flag}</summary><pre>"
                f"{html.escape(arrow.data.decode('utf-8', 'replace'))}</pre></details></li>")
        body.append("</ol></section>")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{html.escape(title)}</title><style>"
            "body{font-family:sans-serif;margin:16px;color:#1f2d3d}"
            "pre{background:#f4f6f8;padding:8px;overflow-x:auto}"
            "summary{font-family:monospace;cursor:pointer}</style></head><body>"
            f"<h1>{html.escape(title)}</h1>\n" + "\n".join(body) + "\n</body></html>\n")
