"""A ladder as text for a terminal: one line per message, at most 100 columns.

::

    Call-ID a84b4c76e6@pc33 - 2024-05-01 12:00:00 UTC - 6 messages, 3 elements
                   127.0.0.1:5062           127.0.0.1:5060           127.0.0.1:5064
    12:00:00.000         |------INVITE sip:bo..---->|                        |
    12:00:00.010         |<----SIP/2.0 100 Trying---|                        |

Arrows of final responses are drawn with ``=``, retransmissions with ``.``
and ``(again)`` after the last lane.
"""

from __future__ import annotations

import datetime

from .model import Arrow, Ladder

__all__ = ["render_text"]

WIDTH = 100
_TIME = 13  # "12:00:00.000 "
_MIN_GAP = 12
_MAX_GAP = 30
_AGAIN = " (again)"
_FIRST = _TIME + 8  # the first lane: room for half of its header


def _clock(when: float) -> str:
    stamp = datetime.datetime.fromtimestamp(when, datetime.UTC)
    return stamp.strftime("%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}"


def _fit(text: str, width: int) -> str:
    if width <= 0:
        return ""
    return text if len(text) <= width else text[:max(width - 2, 0)] + ".."


def _gap(lanes: int) -> int:
    if lanes <= 1:
        return _MAX_GAP
    room = WIDTH - _FIRST - len(_AGAIN) - 1
    return max(_MIN_GAP, min(_MAX_GAP, room // (lanes - 1)))


def render_text(ladder: Ladder) -> str:
    """The ladder of one call as lines of text (ending with a line feed)."""
    count = len(ladder.lanes)
    gap = _gap(count)
    columns = [_FIRST + i * gap for i in range(count)]
    width = columns[-1] + 1 if columns else _TIME
    start = datetime.datetime.fromtimestamp(ladder.start, datetime.UTC)
    lines = [f"Call-ID {ladder.call_id or '(none)'} - {start:%Y-%m-%d %H:%M:%S} UTC - "
             f"{len(ladder.arrows)} messages, {count} elements"]
    header = [" "] * WIDTH
    legend = []
    for number, (lane, column) in enumerate(zip(ladder.lanes, columns, strict=True)):
        name = lane if len(lane) < gap - 1 else f"[{number + 1}]"
        if name != lane:
            legend.append(f"  [{number + 1}] {lane}")
        begin = min(max(0, column - len(name) // 2), WIDTH - len(name))
        header[begin:begin + len(name)] = name
    lines.extend(legend)
    for lane in ladder.lanes:  # an element's other ports (another transport, a connection)
        others = ladder.addresses(lane)
        if others:
            lines.append(_fit(f"  {lane} also sends or receives as {', '.join(others)}",
                              WIDTH))
    lines.append("".join(header).rstrip())
    lines.append(_row(" " * _TIME, columns, width))
    for arrow in ladder.arrows:
        lines.append(_arrow_line(arrow, ladder, columns, width))
    return "\n".join(lines) + "\n"


def _row(prefix: str, columns: list[int], width: int) -> str:
    cells = list(prefix.ljust(width))
    for column in columns:
        cells[column] = "|"
    return "".join(cells)


def _arrow_line(arrow: Arrow, ladder: Ladder, columns: list[int], width: int) -> str:
    cells = list(_row(_clock(arrow.time), columns, width))
    a, b = columns[ladder.lane(arrow.source)], columns[ladder.lane(arrow.destination)]
    shaft = "." if arrow.retransmission else ("=" if arrow.final else "-")
    label = arrow.short_label
    if a == b:  # to itself: a loop to the right
        text = f"<{shaft}{shaft} {label}"
        cells[a + 1:a + 1 + len(text)] = _fit(text, width - a - 1)
        return "".join(cells).rstrip() + (_AGAIN if arrow.retransmission else "")
    left, right = min(a, b), max(a, b)
    span = right - left - 1
    body = [shaft] * span
    if a < b:
        body[-1] = ">"
    else:
        body[0] = "<"
    inner = _fit(label, span - 3)
    if inner:
        begin = (span - len(inner)) // 2
        body[begin:begin + len(inner)] = inner
    cells[left + 1:right] = body
    line = "".join(cells).rstrip()
    return line + _AGAIN if arrow.retransmission else line
