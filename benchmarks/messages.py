"""The SIP messages that ``benchmarks/parse.py`` parses, as exact CRLF bytes.

Four realistic messages of one call and one registration:

* ``INVITE``: two Vias (branch, received, rport), Max-Forwards, a loose Route,
  From with a display name and tag, Contact, Allow, Supported, User-Agent and
  an SDP offer of 12 lines (967 bytes);
* ``200 OK``: the answer to it, with two Vias, two Record-Routes, a To tag,
  Contact and an SDP answer (850 bytes);
* ``REGISTER``: a Digest ``Authorization`` (username, realm, nonce, uri,
  response, algorithm, cnonce, qop, nc), Contact with ``expires`` and an
  Expires header (653 bytes);
* ``OPTIONS``: the small keep-alive probe of RFC 3261 §11.1 (370 bytes).

``variants()`` gives copies of a message that differ in Call-ID, top Via
branch and From tag (same length, so Content-Length still holds), so that a
benchmark loop does not parse the very same bytes over and over.

``SIPP_INVITE`` and ``SIPP_SDP`` are the INVITE of ``benchmarks/sipp/uac.xml``
as SIPp fills it in, a template for the server benchmarks (``memory.py``,
``calls_in_process.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MESSAGES", "SIPP_INVITE", "SIPP_SDP", "Sample", "variants"]


@dataclass(frozen=True)
class Sample:
    """One benchmark message and what a correct parser reads from it."""

    name: str
    data: bytes
    call_id: str
    cseq: int
    method: str
    branch: str
    from_tag: str

    @property
    def is_request(self) -> bool:
        return not self.data.startswith(b"SIP/")


INVITE = (
    b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP proxy1.atlanta.example.com:5060;branch=z9hG4bK2d4790.1"
    b";received=192.0.2.10;rport=5060\r\n"
    b"Via: SIP/2.0/UDP 10.0.0.12:5060;branch=z9hG4bK776asdhds;received=198.51.100.7"
    b";rport=49152\r\n"
    b"Max-Forwards: 69\r\n"
    b"Route: <sip:proxy2.biloxi.example.com;lr>\r\n"
    b'From: "Alice Liddell" <sip:alice@atlanta.example.com>;tag=1928301774\r\n'
    b"To: <sip:bob@biloxi.example.com>\r\n"
    b"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:alice@198.51.100.7:49152;transport=udp>\r\n"
    b"Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, PRACK, REFER, NOTIFY\r\n"
    b"Supported: replaces, timer, 100rel\r\n"
    b"User-Agent: ExamplePhone/4.2.1 (Linux)\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 236\r\n"
    b"\r\n"
    b"v=0\r\n"
    b"o=alice 2890844526 2890844526 IN IP4 10.0.0.12\r\n"
    b"s=-\r\n"
    b"c=IN IP4 10.0.0.12\r\n"
    b"t=0 0\r\n"
    b"m=audio 49170 RTP/AVP 0 8 101\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-16\r\n"
    b"a=ptime:20\r\n"
    b"a=sendrecv\r\n"
)

OK_200 = (
    b"SIP/2.0 200 OK\r\n"
    b"Via: SIP/2.0/UDP proxy1.atlanta.example.com:5060;branch=z9hG4bK2d4790.1"
    b";received=192.0.2.10;rport=5060\r\n"
    b"Via: SIP/2.0/UDP 10.0.0.12:5060;branch=z9hG4bK776asdhds;received=198.51.100.7"
    b";rport=49152\r\n"
    b"Record-Route: <sip:proxy2.biloxi.example.com;lr>\r\n"
    b"Record-Route: <sip:proxy1.atlanta.example.com;lr>\r\n"
    b'From: "Alice Liddell" <sip:alice@atlanta.example.com>;tag=1928301774\r\n'
    b'To: "Bob" <sip:bob@biloxi.example.com>;tag=a6c85cf\r\n'
    b"Call-ID: a84b4c76e66710@pc33.atlanta.example.com\r\n"
    b"CSeq: 314159 INVITE\r\n"
    b"Contact: <sip:bob@203.0.113.45:5060;transport=udp>\r\n"
    b"Server: ExamplePBX/2.8\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 215\r\n"
    b"\r\n"
    b"v=0\r\n"
    b"o=bob 2808844564 2808844564 IN IP4 203.0.113.45\r\n"
    b"s=-\r\n"
    b"c=IN IP4 203.0.113.45\r\n"
    b"t=0 0\r\n"
    b"m=audio 3456 RTP/AVP 0 101\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-16\r\n"
    b"a=ptime:20\r\n"
    b"a=sendrecv\r\n"
)

REGISTER = (
    b"REGISTER sip:registrar.biloxi.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 192.0.2.4:5060;branch=z9hG4bKnashds7;rport\r\n"
    b"Max-Forwards: 70\r\n"
    b"From: Bob <sip:bob@biloxi.example.com>;tag=a73kszlfl\r\n"
    b"To: Bob <sip:bob@biloxi.example.com>\r\n"
    b"Call-ID: 1j9FpLxk3uxtm8tn@192.0.2.4\r\n"
    b"CSeq: 2 REGISTER\r\n"
    b"Contact: <sip:bob@192.0.2.4:5060>;expires=3600\r\n"
    b'Authorization: Digest username="bob", realm="biloxi.example.com", '
    b'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="sip:registrar.biloxi.example.com", '
    b'response="6629fae49393a05397450978507c4ef1", algorithm=MD5, cnonce="0a4f113b", '
    b"qop=auth, nc=00000001\r\n"
    b"Expires: 3600\r\n"
    b"User-Agent: ExamplePhone/4.2.1 (Linux)\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)

OPTIONS = (
    b"OPTIONS sip:carol@chicago.example.com SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP pc33.atlanta.example.com;branch=z9hG4bKhjhs8ass877\r\n"
    b"Max-Forwards: 70\r\n"
    b"To: <sip:carol@chicago.example.com>\r\n"
    b"From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\r\n"
    b"Call-ID: a84b4c76e66710\r\n"
    b"CSeq: 63104 OPTIONS\r\n"
    b"Contact: <sip:alice@pc33.atlanta.example.com>\r\n"
    b"Accept: application/sdp\r\n"
    b"Content-Length: 0\r\n"
    b"\r\n"
)

MESSAGES: tuple[Sample, ...] = (
    Sample("INVITE", INVITE, "a84b4c76e66710@pc33.atlanta.example.com", 314159, "INVITE",
           "z9hG4bK2d4790.1", "1928301774"),
    Sample("200 OK", OK_200, "a84b4c76e66710@pc33.atlanta.example.com", 314159, "INVITE",
           "z9hG4bK2d4790.1", "1928301774"),
    Sample("REGISTER", REGISTER, "1j9FpLxk3uxtm8tn@192.0.2.4", 2, "REGISTER",
           "z9hG4bKnashds7", "a73kszlfl"),
    Sample("OPTIONS", OPTIONS, "a84b4c76e66710", 63104, "OPTIONS",
           "z9hG4bKhjhs8ass877", "1928301774"),
)


def _check(sample: Sample) -> None:
    head, sep, body = sample.data.partition(b"\r\n\r\n")
    assert sep and b"\n" not in head.replace(b"\r\n", b""), sample.name
    declared = int(head.rpartition(b"Content-Length: ")[2].split(b"\r\n")[0])
    assert declared == len(body), (sample.name, declared, len(body))


for _sample in MESSAGES:
    _check(_sample)


def variants(sample: Sample, count: int) -> list[bytes]:
    """``count`` copies of ``sample.data``; copy 0 is the message itself and the
    others change the last 4 characters of the Call-ID's first part, the top
    Via branch and the From tag (lengths are kept)."""
    local = sample.call_id.partition("@")[0]
    tokens = [local, sample.branch, sample.from_tag]
    out = [sample.data]
    for i in range(1, count):
        data = sample.data
        suffix = f"{i:04x}"
        for token in tokens:
            data = data.replace(token.encode(), (token[:-4] + suffix).encode())
        assert len(data) == len(sample.data)
        out.append(data)
    return out


#: the SDP offer of benchmarks/sipp/uac.xml
SIPP_SDP = (
    "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\n"
    "c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
)
#: the INVITE of benchmarks/sipp/uac.xml, headers only ({domain} {port} {n} {length})
SIPP_INVITE = (
    "INVITE sip:bob@{domain} SIP/2.0\r\n"
    "Via: SIP/2.0/UDP 127.0.0.1:{port};branch=z9hG4bK-{n}-1-0\r\n"
    "From: <sip:caller@{domain}>;tag=4242c{n}\r\n"
    "To: <sip:bob@{domain}>\r\n"
    "Call-ID: {n}-4242@127.0.0.1\r\n"
    "CSeq: 1 INVITE\r\n"
    "Contact: <sip:caller@127.0.0.1:{port};transport=UDP>\r\n"
    "Max-Forwards: 70\r\n"
    "User-Agent: sipp-bench\r\n"
    "Content-Type: application/sdp\r\n"
    "Content-Length: {length}\r\n\r\n"
)
