"""Shared helpers for message-layer tests."""

from __future__ import annotations

from pathlib import Path

CORPUS = Path(__file__).parent / "corpus"


def sip(text: str) -> bytes:
    """A message written with LF line endings in a test, as CRLF wire bytes.

    The body (after the first blank line) is converted too, and Content-Length
    is left as written: tests give the CRLF length.
    """
    return text.replace("\r\n", "\n").replace("\n", "\r\n").encode("utf-8")
