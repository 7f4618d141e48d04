"""Status codes: every code of the grammar (RFC 3261 §21, §25) and later ones."""

from __future__ import annotations

import pytest

from sipwire import Status, StatusClass

SEED = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued",
    183: "Session Progress", 200: "OK", 300: "Multiple Choices", 301: "Moved Permanently",
    302: "Moved Temporarily", 305: "Use Proxy", 380: "Alternative Service",
    400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden",
    404: "Not Found", 405: "Method Not Allowed", 406: "Not Acceptable",
    407: "Proxy Authentication Required", 408: "Request Timeout", 410: "Gone",
    413: "Request Entity Too Large", 414: "Request-URI Too Large",
    415: "Unsupported Media Type", 416: "Unsupported URI Scheme", 420: "Bad Extension",
    421: "Extension Required", 423: "Interval Too Brief", 480: "Temporarily not available",
    481: "Call Leg/Transaction Does Not Exist", 482: "Loop Detected", 483: "Too Many Hops",
    484: "Address Incomplete", 485: "Ambiguous", 486: "Busy Here", 487: "Request Terminated",
    488: "Not Acceptable Here", 491: "Request Pending", 493: "Undecipherable",
    500: "Internal Server Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Server Time-out", 505: "SIP Version not supported",
    513: "Message Too Large", 600: "Busy Everywhere", 603: "Decline",
    604: "Does not exist anywhere", 606: "Not Acceptable",
}
LATER = [199, 202, 204, 412, 417, 422, 428, 429, 430, 433, 436, 437, 438, 439, 440, 469,
         470, 489, 494, 555, 580, 607, 608]


@pytest.mark.parametrize(("code", "phrase"), sorted(SEED.items()))
def test_every_code_of_the_grammar(code: int, phrase: str) -> None:
    assert Status(code).phrase == phrase
    assert Status(code).is_known


@pytest.mark.parametrize("code", LATER)
def test_later_iana_codes(code: int) -> None:
    assert Status(code).is_known and Status(code).phrase


def test_names_and_classes() -> None:
    assert Status.BUSY_HERE == 486 and Status(486).phrase == "Busy Here"
    assert Status(180).is_provisional and not Status(180).is_final
    assert Status(200).is_success and Status(302).is_redirection
    assert Status(404).is_client_failure and Status(503).is_server_failure
    assert Status(603).is_global_failure and Status(603).status_class is StatusClass.GLOBAL_FAILURE


def test_unknown_code_in_range_takes_its_class_phrase() -> None:
    """§8.1.3.2: an unknown code is treated as the x00 of its class."""
    assert Status(499).phrase == "Bad Request" and not Status(499).is_known
    assert Status(299).is_success


@pytest.mark.parametrize("code", [99, 700, 1000, -1])
def test_out_of_range_refused(code: int) -> None:
    with pytest.raises(ValueError):
        Status(code)
