"""Settings of one endpoint (every value belongs to an instance, never to the module)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import __version__
from ..transaction.config import TimerConfig
from ..transport.config import TransportConfig

__all__ = ["EndpointConfig"]


@dataclass(frozen=True)
class EndpointConfig:
    """How an ``Endpoint`` times, sends and answers.

    ``timers`` are T1, T2, T4 of its transactions (RFC 3261 §17; a small T1
    makes tests fast), ``transport`` the settings of its transport layer.
    """

    timers: TimerConfig = field(default_factory=TimerConfig)
    transport: TransportConfig = field(default_factory=TransportConfig)
    #: §8.2.2.2: answer merged requests 482 (a proxy turns it off, merging is a UAS matter)
    detect_merged_requests: bool = True
    #: §9.2: answer CANCEL here (200, and 487 for the INVITE if it has no final
    #: response yet); False passes CANCEL to a CANCEL handler (a proxy, §16.10)
    auto_cancel: bool = True
    #: the Server header of the responses the endpoint builds (§20.35); None: none
    server: str | None = f"sipwire/{__version__}"
    #: §11.2 / §20.1: the bodies we accept, announced in Accept
    accept: tuple[str, ...] = ("application/sdp",)
    #: §19.2 option tags we support, announced in Supported; a request that
    #: Requires another is answered 420 (§8.2.2.3)
    supported: tuple[str, ...] = ()
    #: §8.2.2.1: Request-URI schemes we serve; others are answered 416
    schemes: tuple[str, ...] = ("sip", "sips", "tel")
    #: how many 401/407 challenges in a row one request answers (§22.2)
    max_challenges: int = 2
