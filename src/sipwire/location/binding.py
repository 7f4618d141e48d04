"""A binding of the location service: one contact of an address-of-record.

RFC 3261 §10 defines a binding as an address-of-record and a contact address
with an expiration; §10.3 step 7 adds the Call-ID and CSeq of the request that
last wrote it.  RFC 3327 §5.3 adds the path vector, RFC 5626 §6 the instance-id,
the reg-id and the flow the registration arrived over.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from typing import Any

from .._frozen import quick_init
from ..message.abnf import PARAMS_RE
from ..message.errors import ParseError
from ..message.fields.nameaddr import Contact
from ..message.fields.params import format_params, split_params
from ..message.uri import URI

__all__ = ["Binding", "Source", "sort_bindings"]


@quick_init
@dataclass(frozen=True, slots=True)
class Source:
    """Where a REGISTER came from: what routing back through a NAT needs.

    ``transport`` is the Via transport name (``UDP``, ``TCP``, ``TLS``, ``WS``,
    ``WSS``); ``host`` and ``port`` the remote address the request was received
    from (the ``received``/``rport`` of RFC 3581, not the Via sent-by);
    ``local`` an opaque name of the listening socket or connection (and node)
    that received it, which RFC 5626 §6 asks a registrar to keep for a flow.
    """

    transport: str
    host: str
    port: int
    local: str | None = None


@quick_init
@dataclass(frozen=True, slots=True)
class Binding:
    """One contact of an address-of-record, as the registrar wrote it.

    ``aor`` is the canonical address-of-record (``URI.aor``, §10.3 step 5);
    ``contact`` the contact URI text and ``contact_value`` the whole Contact
    header value as received (display name and parameters: ``q``,
    ``+sip.instance``, ``reg-id`` ...), which is what a 200 to REGISTER lists.
    ``expires_at`` and ``updated_at`` are absolute POSIX times.  ``path`` holds
    the Path header values of the REGISTER in order (RFC 3327 §5.3).
    ``instance_id`` is the ``+sip.instance`` URN without quotes or angle
    brackets; ``reg_id`` is set only for an RFC 5626 flow binding, which is
    then identified by (instance_id, reg_id) rather than by its URI.
    """

    aor: str
    contact: str
    contact_value: str
    expires_at: float
    q: float = 1.0
    call_id: str = ""
    cseq: int = 0
    path: tuple[str, ...] = ()
    instance_id: str | None = None
    reg_id: int | None = None
    source: Source | None = None
    user_agent: str | None = None
    updated_at: float = 0.0

    @property
    def key(self) -> str:
        """What identifies the binding within its AOR.

        An RFC 5626 flow binding is "between an AOR and the combination of
        the instance-id and the value of reg-id" (§6); any other binding is
        identified by its contact URI (RFC 3261 §10.3 step 7).  The outbound
        form starts with ``+``, which no URI scheme does, so the two never
        collide.
        """
        if self.reg_id is not None:
            return f"+sip.instance={self.instance_id};reg-id={self.reg_id}"
        return self.contact

    @property
    def uri(self) -> URI:
        """The contact URI (parsed on each read)."""
        return URI.parse(self.contact)

    def expired(self, now: float) -> bool:
        return self.expires_at <= now

    def remaining(self, now: float) -> int:
        """Whole seconds left before expiry (never negative)."""
        return max(0, math.ceil(round(self.expires_at - now, 3)))

    def contact_header(self, now: float) -> Contact:
        """The Contact value for a 200 to REGISTER: as registered, with
        ``expires`` set to the seconds left (§10.3 step 8)."""
        try:
            value = Contact.parse(self.contact_value)
        except ParseError:
            # written by something other than the registrar: the URI alone
            value = Contact(self.uri)
        params = dict(value.params)
        params["expires"] = str(self.remaining(now))
        value.params = params
        return value

    def contact_text(self, now: float) -> str:
        """``str(self.contact_header(now))``, without parsing and rendering the
        Contact again when it is in the canonical form the registrar stores
        (``<uri>`` and lower-case parameters without quotes or spaces, no
        display name): then only ``expires`` is written (§10.3 step 8)."""
        value = self.contact_value
        end = len(self.contact) + 1
        # "<" contact ">" tail, as the registrar wrote it from a parsed Contact
        if value[:1] == "<" and value[end:end + 1] == ">" and value[1:end] == self.contact:
            tail = value[end + 1:]
            remaining = str(self.remaining(now))
            if not tail:
                return f"{value};expires={remaining}"
            if '"' not in tail and PARAMS_RE.fullmatch(tail) is not None:
                params = split_params(tail)
                if format_params(params) == tail:
                    params["expires"] = remaining
                    return value[:end + 1] + format_params(params)
        return str(self.contact_header(now))

    def replace(self, **changes: Any) -> Binding:
        return replace(self, **changes)

    # -- storage form -------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "aor": self.aor,
            "contact": self.contact,
            "contact_value": self.contact_value,
            "expires_at": self.expires_at,
            "q": self.q,
            "call_id": self.call_id,
            "cseq": self.cseq,
            "path": list(self.path),
            "instance_id": self.instance_id,
            "reg_id": self.reg_id,
            "user_agent": self.user_agent,
            "updated_at": self.updated_at,
            "source": None,
        }
        if self.source is not None:
            data["source"] = [self.source.transport, self.source.host, self.source.port,
                              self.source.local]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Binding:
        source = data.get("source")
        return cls(
            aor=data["aor"],
            contact=data["contact"],
            contact_value=data["contact_value"],
            expires_at=float(data["expires_at"]),
            q=float(data["q"]),
            call_id=data["call_id"],
            cseq=int(data["cseq"]),
            path=tuple(data["path"]),
            instance_id=data["instance_id"],
            reg_id=data["reg_id"],
            source=Source(source[0], source[1], int(source[2]), source[3]) if source else None,
            user_agent=data["user_agent"],
            updated_at=float(data["updated_at"]),
        )

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str | bytes) -> Binding:
        data: dict[str, Any] = json.loads(text)
        return cls.from_dict(data)


def sort_bindings(bindings: list[Binding]) -> list[Binding]:
    """Highest ``q`` first (§16.6 step 1's preference order), then the most
    recently updated, then by contact text so the order is stable."""
    if len(bindings) < 2:
        return list(bindings)
    by_contact = sorted(bindings, key=lambda b: b.key)
    return sorted(by_contact, key=lambda b: (-b.q, -b.updated_at))
