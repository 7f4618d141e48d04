"""Ladder diagrams of SIP calls, from a pcap or a ``--trace`` log.

``build_ladders(records)`` groups messages by Call-ID into ``Ladder`` values
(lanes and arrows); ``render_text``, ``render_svg`` and ``render_html`` draw
them.  ``sipwire ladder FILE`` is the command.
"""

from __future__ import annotations

from .model import Arrow, Ladder, build_ladders
from .svg import render_html, render_svg
from .text import render_text

__all__ = ["Arrow", "Ladder", "build_ladders", "render_html", "render_svg", "render_text"]
