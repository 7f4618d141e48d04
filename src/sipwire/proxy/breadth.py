"""Max-Breadth (RFC 5393 §5): a bound on the branches one request may fork into.

Every proxied request carries one ``Max-Breadth`` value: how many concurrent
branches it may still spawn from here on.  A proxy takes the value of the
request it received (its Incoming Max-Breadth), adds one when there is none
and lowers one above its maximum (§5.3.3: "RECOMMENDED to be 60" both), and
divides it among the branches it forwards in parallel, so that their values
(the Outgoing Max-Breadth) never add up to more.  When a parallel fork needs
more branches than that, the proxy "MUST return a 440 (Max-Breadth
Exceeded)" unless it forks serially instead; this one answers 440
(``determine_targets``), so a stranger cannot make one request cost the
server hundreds of client transactions.

How this proxy reads the rest of §5.3.3:

- A value that is not a positive integer (``1*DIGIT`` and not 0: §5.3.1
  "a single positive integer"), or more than one value, is read as the
  smallest positive value given, else as none: the request gets the maximum.
- A group of targets tried in parallel (``TargetSet.groups``) gets the whole
  Incoming Max-Breadth, split as evenly as it goes, the first targets taking
  the remainder (``split_breadth``); the next group of a sequential fork
  starts once every branch of the one before has its final response
  (§5.3.3.1: their Max-Breadth is then free again).  An alternate flow tried
  after a 430 (RFC 5626 §7) replaces its branch and takes its share.  With
  ``ProxyConfig.group_timeout`` a group that rings too long is cancelled and
  the next started at once, so until the cancelled branches answer 487 the
  two groups' values may add up to twice the Incoming Max-Breadth: §5.4.1
  says a CANCEL does not free Max-Breadth.  ``sipwire serve`` sets no group
  timeout.
"""

from __future__ import annotations

from ..message.message import Request

__all__ = ["DEFAULT_MAX_BREADTH", "breadth_of", "incoming_breadth", "split_breadth"]

#: §5.3.3: the value added to a request without one, and the maximum accepted
DEFAULT_MAX_BREADTH = 60


def incoming_breadth(request: Request, maximum: int) -> int:
    """The Incoming Max-Breadth of ``request`` (§5.3.2): its ``Max-Breadth``,
    no more than ``maximum``; ``maximum`` when it has none that is valid."""
    return breadth_of(request.headers.texts("Max-Breadth"), maximum)


def breadth_of(values: list[str], maximum: int) -> int:
    """``incoming_breadth`` of a request whose Max-Breadth texts are ``values``."""
    if not values:
        return maximum
    smallest = maximum
    for text in values:
        if text.isdecimal() and text.isascii():
            value = int(text)
            if 0 < value < smallest:
                smallest = value
    return smallest


def split_breadth(total: int, branches: int) -> list[int]:
    """``total`` divided among ``branches`` parallel branches, each at least 1,
    adding up to ``total`` (§5.3.3: no less than was received, and the
    Outgoing Max-Breadth never more than the Incoming).  Raises ValueError
    for more branches than ``total``: that fork is a 440."""
    if not 0 < branches <= total:
        raise ValueError(f"{branches} parallel branches need a Max-Breadth of at least "
                         f"{branches}, not {total} (RFC 5393 §5.3.3)")
    share, extra = divmod(total, branches)
    return [share + 1] * extra + [share] * (branches - extra)
