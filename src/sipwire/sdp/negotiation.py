"""RFC 3264 offers and answers as pure functions, and what they agreed on.

- ``make_offer(local, ...)`` builds an offer (§5) or a modified offer (§8):
  m-lines keep their positions, a removed stream is port 0, hold is
  ``a=sendonly`` (``a=inactive`` when the peer already holds us, §8.4), and a
  dynamic payload type keeps the codec it was negotiated for (§8.3.2).
- ``answer(offer, local, ...)`` answers an offer (§6): one m-line per offered
  m-line, in order; codecs in common (static payload types by number, others
  by rtpmap name/rate/channels, the offerer's numbers kept); telephone-event at
  the rate of an accepted codec; port 0 for a refused stream, keeping the
  offered formats; the direction rules of §6.1; ``NotAcceptableHere`` (488)
  when no stream could be accepted.
- ``negotiate(local, remote, ...)`` gives the ``Negotiated`` result a media
  engine plugs into: per stream the addresses, ports, codecs, direction, and
  whether media flows at all.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from .attributes import Direction, RtpMap
from .capabilities import Codec, MediaCapabilities
from .errors import NotAcceptableHere, SdpError
from .model import Attribute, Connection, MediaDescription, Origin, SessionDescription, Timing

__all__ = [
    "MediaStream",
    "Negotiated",
    "NegotiatedCodec",
    "answer",
    "make_offer",
    "negotiate",
    "new_origin",
]

_DYNAMIC = range(96, 128)


def new_origin(local: MediaCapabilities, session_id: int | None = None) -> Origin:
    """Our ``o=`` line: a fresh session id (random, below 2**62 as RFC 3264 §5 asks)
    unless given, and the version equal to it, as RFC 4566 §5.2 suggests."""
    sid = secrets.randbelow(2**62 - 1) if session_id is None else session_id
    connection = Connection.for_address(local.address)
    return Origin(local.username, sid, sid, "IN", connection.addrtype, connection.address)


# ---------------------------------------------------------------------------
# the result


@dataclass(frozen=True, slots=True)
class NegotiatedCodec:
    """A codec both ends agreed on for a stream.

    ``payload_type`` is the number to send it with (the peer's, RFC 3264 §6
    and §7); ``local_payload_type`` the number we listed, which the peer sends
    to us.  ``fmtp`` is the peer's parameter text for it (how it wants to
    receive), ``None`` if it gave none.
    """

    payload_type: int
    name: str
    rate: int
    channels: int
    fmtp: str | None
    local_payload_type: int

    @property
    def is_telephone_event(self) -> bool:
        """RFC 4733 DTMF events rather than audio."""
        return self.name.lower() == "telephone-event"


@dataclass(frozen=True, slots=True)
class MediaStream:
    """One negotiated m-line, seen from our side.

    ``direction`` is ours: ``SENDONLY`` means we send and do not receive.  It
    is ``INACTIVE`` for a stream that is not ``active`` (rejected, disabled, or
    with no codec in common).  ``codecs`` are in the order to prefer when
    sending (RFC 3264 §6 and §7), telephone-event included; ``local_ptime`` and
    ``remote_ptime`` are the packet times each side asked to receive.
    ``remote_rtcp_port`` is where the peer takes RTCP: its ``a=rtcp`` port
    (RFC 3605), else the RTP port plus one (RFC 3550 §11); 0 when inactive.
    """

    index: int
    media: str
    proto: str
    local_address: str
    local_port: int
    remote_address: str
    remote_port: int
    codecs: tuple[NegotiatedCodec, ...]
    direction: Direction
    active: bool
    local_ptime: int | None = None
    remote_ptime: int | None = None
    remote_rtcp_port: int = 0

    @property
    def codec(self) -> NegotiatedCodec | None:
        """The codec to send with: the first that is not telephone-event."""
        return next((c for c in self.codecs if not c.is_telephone_event), None)

    @property
    def telephone_event(self) -> NegotiatedCodec | None:
        """The telephone-event format at the rate of ``codec``, if agreed."""
        main = self.codec
        return next((c for c in self.codecs if c.is_telephone_event
                     and (main is None or c.rate == main.rate)), None)


@dataclass(frozen=True, slots=True)
class Negotiated:
    """The outcome of one offer/answer exchange: both descriptions and each stream."""

    local: SessionDescription
    remote: SessionDescription
    streams: tuple[MediaStream, ...]

    @property
    def active_streams(self) -> tuple[MediaStream, ...]:
        """The streams media flows on (in some direction, or ready to)."""
        return tuple(s for s in self.streams if s.active)


# ---------------------------------------------------------------------------
# offers


def make_offer(local: MediaCapabilities, *, origin: Origin | None = None,
               previous: Negotiated | None = None, hold: bool = False,
               remove: Collection[int] = (), add: bool = False) -> SessionDescription:
    """An offer from ``local`` (RFC 3264 §5), or a modified one after ``previous`` (§8).

    With ``previous``, every m-line of the previous exchange keeps its place
    (§8): ours carries our codecs again, each dynamic payload type keeping its
    codec (§8.3.2); streams in ``remove`` (indexes) and streams that were not
    active are offered with port 0 (§8.2).  ``add`` appends our stream when no
    active one is left (§8.1).  ``hold`` marks our stream ``sendonly``, or
    ``inactive`` if it did not send before (the peer holds us) (§8.4).
    ``origin`` is written as given: versioning is the caller's (``OfferAnswer``).
    """
    origin = origin if origin is not None else new_origin(local)
    if previous is None:
        direction = _hold(local.direction) if hold else local.direction
        sections = [_our_media(local, direction, {})]
    else:
        sections = []
        ours_left = False
        for stream, m in zip(previous.streams, previous.local.media, strict=True):
            if (stream.active and stream.index not in remove
                    and stream.media.lower() == local.media.lower()):
                was = stream.direction
                direction = (Direction.of(was.sends and local.direction.sends, False)
                             if hold else local.direction)
                sections.append(_our_media(local, direction, _mapping(stream, previous)))
                ours_left = True
            else:
                sections.append(_disabled(m))
        if add:
            if ours_left:
                raise ValueError("a stream of ours is active: nothing to add (RFC 3264 §8.1)")
            direction = _hold(local.direction) if hold else local.direction
            sections.append(_our_media(local, direction, {}))
    return _session(local, origin, (Timing(),), sections)


def _hold(direction: Direction) -> Direction:
    return direction & Direction.SENDONLY


def _mapping(stream: MediaStream, previous: Negotiated) -> dict[int, tuple[str, int, int]]:
    """The payload types already bound in this stream (both sides'), to their codec key."""
    bound: dict[int, tuple[str, int, int]] = {}
    for sdp in (previous.remote, previous.local):
        m = sdp.media[stream.index]
        for fmt, rtpmap in m.rtpmaps().items():  # an rtpmap's format is a number
            bound.setdefault(int(fmt), rtpmap.key)
    return bound


def _our_media(local: MediaCapabilities, direction: Direction,
               bound: dict[int, tuple[str, int, int]]) -> MediaDescription:
    """Our m-line with every codec of ``local``; telephone-event at each audio rate."""
    used: dict[int, tuple[str, int, int]] = {}
    formats: list[tuple[int, Codec]] = []

    def place(codec: Codec) -> None:
        by_key = [pt for pt, key in bound.items() if key == codec.key and pt not in used]
        wanted = codec.payload_type
        if by_key:
            pt = by_key[0]
        elif (wanted is not None and wanted not in used
              and bound.get(wanted, codec.key) == codec.key):
            pt = wanted
        else:
            free = [p for p in _DYNAMIC if p not in used and p not in bound]
            if not free:
                return
            pt = free[0]
        used[pt] = codec.key
        formats.append((pt, codec))

    for codec in local.audio_codecs:
        place(codec)
    dtmf = local.telephone_event
    if dtmf is not None:
        # the common 8000 Hz one gets our telephone-event number (101 by default)
        rates = sorted(dict.fromkeys(c.rate for c in local.audio_codecs),
                       key=lambda rate: rate != dtmf.rate)
        for n, rate in enumerate(rates):
            place(dataclasses.replace(dtmf, rate=rate,
                                      payload_type=dtmf.payload_type if n == 0 else None))
    return _media_section(local, local.media, local.port, local.protos[0],
                          [(pt, codec.rtpmap(pt), codec.fmtp) for pt, codec in formats],
                          direction)


def _media_section(local: MediaCapabilities, media: str, port: int, proto: str,
                   formats: list[tuple[int, RtpMap, str | None]],
                   direction: Direction) -> MediaDescription:
    attributes = []
    for pt, rtpmap, fmtp in formats:
        attributes.append(Attribute("rtpmap", str(rtpmap)))
        if fmtp:
            attributes.append(Attribute("fmtp", f"{pt} {fmtp}"))
    if local.ptime is not None:
        attributes.append(Attribute("ptime", str(local.ptime)))
    attributes.append(Attribute(direction.value))
    return MediaDescription(media, port, proto, tuple(str(pt) for pt, _, _ in formats),
                            attributes=tuple(attributes))


def _disabled(m: MediaDescription) -> MediaDescription:
    """A refused or removed stream: port 0, same media and proto, the formats kept
    (at least one must be there, RFC 3264 §6 and §8.2), no attributes."""
    return MediaDescription(m.media, 0, m.proto, m.formats or ("0",))


def _session(local: MediaCapabilities, origin: Origin, timings: tuple[Timing, ...],
             media: Iterable[MediaDescription]) -> SessionDescription:
    return SessionDescription(
        origin=origin, session_name=local.session_name,
        connection=Connection.for_address(local.address),
        timings=timings, media=tuple(media))


# ---------------------------------------------------------------------------
# answers


def answer(offer: SessionDescription, local: MediaCapabilities, *,
           origin: Origin | None = None, hold: bool = False) -> SessionDescription:
    """Our answer to ``offer`` (RFC 3264 §6).

    Accepts the first offered unicast stream of our media type and transport
    whose codecs meet ours; every other stream is refused with port 0.  ``hold``
    answers as a holding party (we do not receive).  Raises
    ``NotAcceptableHere`` (488) when the offer has streams and none can be
    accepted, ``SdpError`` (400) for a stream with no connection address.
    """
    origin = origin if origin is not None else new_origin(local)
    ours = _hold(local.direction) if hold else local.direction
    sections: list[MediaDescription] = []
    reasons: list[str] = []
    accepted = False
    for index, m in enumerate(offer.media):
        section, reason = None, "port 0 offered"
        if m.port != 0:
            section, reason = _answer_stream(offer, index, m, local, ours, accepted)
        if section is None:
            reasons.append(f"stream {index} ({m.media} {m.proto}): {reason}")
            section = _disabled(m)
        else:
            accepted = True
        sections.append(section)
    if not accepted and any(m.port != 0 for m in offer.media):
        raise NotAcceptableHere("nothing in the offer can be accepted: " + "; ".join(reasons))
    return _session(local, origin, offer.timings or (Timing(),), sections)


def _answer_stream(offer: SessionDescription, index: int, m: MediaDescription,
                   local: MediaCapabilities, ours: Direction,
                   accepted: bool) -> tuple[MediaDescription | None, str]:
    if m.media.lower() != local.media.lower():
        return None, f"we do not do {m.media}"
    if not local.accepts_proto(m.proto):
        return None, f"we do not do {m.proto}"
    if accepted:
        return None, f"we have one {local.media} stream, already accepted"
    connection = offer.connection_of(m)
    if connection is None:
        raise SdpError(f"stream {index} has no c= line and the session none either",
                       rfc="RFC 4566 §5.7")
    if connection.is_multicast:
        return None, "we do not do multicast (RFC 3264 §6.2)"
    chosen = _common_codecs(m, local)
    if not chosen:
        offered = " ".join(f"{r.encoding}/{r.clock_rate}" for r in m.rtpmaps().values())
        return None, f"no codec in common (offered: {offered or 'none known'})"
    offered_direction = offer.direction_of(m)
    if connection.is_null:
        offered_direction = offered_direction & Direction.SENDONLY
    direction = Direction.of(offered_direction.receives and ours.sends,
                             offered_direction.sends and ours.receives)
    return _media_section(local, m.media, local.port, m.proto, chosen, direction), ""


def _common_codecs(m: MediaDescription, local: MediaCapabilities
                   ) -> list[tuple[int, RtpMap, str | None]]:
    """The offered formats we do, in the offer's order, with the offerer's numbers."""
    offered = list(m.rtpmaps().items())
    chosen: dict[str, tuple[int, RtpMap, str | None]] = {}
    for fmt, rtpmap in offered:
        codec = next((c for c in local.audio_codecs if c.matches(rtpmap)), None)
        if codec is not None:
            chosen[fmt] = (int(fmt), codec.rtpmap(int(fmt)), codec.fmtp)
    if not chosen:
        return []
    dtmf = local.telephone_event
    if dtmf is not None:
        rates = {rtpmap.clock_rate for _, rtpmap, _ in chosen.values()}
        for fmt, rtpmap in offered:
            if rtpmap.encoding.lower() == "telephone-event" and rtpmap.clock_rate in rates:
                chosen[fmt] = (int(fmt), rtpmap, dtmf.fmtp)
    return [chosen[fmt] for fmt, _ in offered if fmt in chosen]


# ---------------------------------------------------------------------------
# the outcome


def negotiate(local: SessionDescription, remote: SessionDescription) -> Negotiated:
    """What ``local`` and ``remote`` (an offer and its answer, either way) agreed on.

    ``SdpError`` (400) if their m-line counts differ (RFC 3264 §6).
    """
    if len(local.media) != len(remote.media):
        raise SdpError(f"the answer has {len(remote.media)} m-lines where the offer has "
                       f"{len(local.media)}", rfc="RFC 3264 §6")
    streams = tuple(_stream(local, remote, i) for i in range(len(local.media)))
    return Negotiated(local, remote, streams)


def _stream(local: SessionDescription, remote: SessionDescription, index: int) -> MediaStream:
    ours, theirs = local.media[index], remote.media[index]
    our_connection, their_connection = local.connection_of(ours), remote.connection_of(theirs)
    codecs = _agreed_codecs(ours, theirs)
    active = (ours.port != 0 and theirs.port != 0 and their_connection is not None
              and ours.media.lower() == theirs.media.lower()
              and any(not c.is_telephone_event for c in codecs))
    direction = Direction.INACTIVE
    if active and their_connection is not None:
        theirs_seen = remote.direction_of(theirs).reversed()
        direction = local.direction_of(ours) & theirs_seen
        if their_connection.is_null:
            direction = direction & Direction.RECVONLY
    return MediaStream(
        index=index, media=theirs.media, proto=theirs.proto,
        local_address=our_connection.address if our_connection else "",
        local_port=ours.port,
        remote_address=their_connection.address if their_connection else "",
        remote_port=theirs.port,
        codecs=codecs if active else (), direction=direction, active=active,
        local_ptime=ours.ptime, remote_ptime=theirs.ptime,
        remote_rtcp_port=_rtcp_port(theirs) if active else 0)


def _rtcp_port(m: MediaDescription) -> int:
    """``a=rtcp:<port> [...]`` (RFC 3605 §2.1), else the RTP port plus one (RFC 3550 §11)."""
    value = m.attribute("rtcp")
    if value:
        port = value.split()[0]
        if port.isdigit() and 0 < int(port) < 65536:
            return int(port)
    return m.port + 1


def _agreed_codecs(ours: MediaDescription, theirs: MediaDescription
                   ) -> tuple[NegotiatedCodec, ...]:
    """Their formats that are also ours, in their order: same number and codec first,
    else the same codec under another number (RFC 3264 §6 allows different numbers)."""
    our_maps = ours.rtpmaps()
    result = []
    for fmt, rtpmap in theirs.rtpmaps().items():
        mine = our_maps.get(fmt)
        if mine is None or mine.key != rtpmap.key:
            mine = next((r for r in our_maps.values() if r.key == rtpmap.key), None)
        if mine is None:
            continue
        result.append(NegotiatedCodec(
            payload_type=int(fmt), name=rtpmap.encoding, rate=rtpmap.clock_rate,
            channels=rtpmap.key[2], fmtp=theirs.fmtp(fmt),
            local_payload_type=mine.payload_type))
    return tuple(result)
