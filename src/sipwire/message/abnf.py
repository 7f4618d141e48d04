"""RFC 3261 §25 grammar, transcribed rule by rule as regular expressions.

Each pattern names the rule it transcribes.  Header values reach these
patterns already unfolded (§7.3.1: a CRLF followed by whitespace is one SP),
so LWS here is ``[ \\t]*`` and SWS is the same.  Patterns are strings so they
compose; the ``*_RE`` names are the compiled forms used by the parsers.
"""

from __future__ import annotations

import re

# Core rules (§25.1, RFC 2234)
ALPHANUM = r"A-Za-z0-9"
SWS = r"[ \t]*"
LWS = r"[ \t]+"
UTF8_NONASCII = r"\u0080-\U0010ffff"

# token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
TOKEN_CHARS = ALPHANUM + r"\-.!%*_+`'~"
TOKEN = rf"[{TOKEN_CHARS}]+"
# word = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~" /
#           "(" / ")" / "<" / ">" / ":" / "\" / DQUOTE / "/" / "[" / "]" / "?" / "{" / "}")
WORD = rf"[{TOKEN_CHARS}()<>:\\\"/\[\]?{{}}]+"
# quoted-string = SWS DQUOTE *(qdtext / quoted-pair ) DQUOTE
# qdtext = LWS / %x21 / %x23-5B / %x5D-7E / UTF8-NONASCII
# quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)
_QDTEXT = rf"[ \t!#-\[\]-~{UTF8_NONASCII}]"
QUOTED_STRING = rf'"{_QDTEXT}*(?:\\[\x00-\x09\x0b\x0c\x0e-\x7f]{_QDTEXT}*)*"'
# comment = LPAREN *(ctext / quoted-pair / comment) RPAREN; nesting is checked by code.
CTEXT = rf"[!-'*-\[\]-~{UTF8_NONASCII} \t]"

# §25.1: unreserved / reserved / escaped
UNRESERVED = ALPHANUM + r"\-_.!~*'()"
RESERVED = r";/?:@&=+$,"
ESCAPED = r"%[0-9A-Fa-f]{2}"

# hostname = *( domainlabel "." ) toplabel [ "." ]
DOMAINLABEL = r"[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?"
HOSTNAME = rf"(?:{DOMAINLABEL}\.)*{DOMAINLABEL}\.?"
IPV4ADDRESS = r"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}"
# IPv6reference = "[" IPv6address "]"; the address itself is checked with ipaddress.
IPV6REFERENCE = r"\[[0-9A-Fa-f:.]+\]"
HOST = rf"(?:{IPV6REFERENCE}|{HOSTNAME})"
PORT = r"[0-9]+"

# Method = INVITEm / ACKm / OPTIONSm / BYEm / CANCELm / REGISTERm / extension-method
METHOD = TOKEN
# SIP-Version = "SIP" "/" 1*DIGIT "." 1*DIGIT (case-insensitive literal)
SIP_VERSION = r"[Ss][Ii][Pp]/[0-9]+\.[0-9]+"
# Status-Code = 3DIGIT; Reason-Phrase = *(reserved / unreserved / escaped /
#                                         UTF8-NONASCII / UTF8-CONT / SP / HTAB)
REASON_PHRASE = rf"[{ALPHANUM}{RESERVED}\-_.!~*'()% \t{UTF8_NONASCII}]*"

# generic-param = token [ EQUAL gen-value ]; gen-value = token / host / quoted-string
GEN_VALUE = rf"(?:{TOKEN}|{HOST}|{QUOTED_STRING})"
GENERIC_PARAM = rf"{TOKEN}(?:{SWS}={SWS}{GEN_VALUE})?"
# *( SEMI generic-param ), the tail shared by most parameterised headers
# atomic: "y" is both a token and a host, and a plain group backtracks
# exponentially on a long run of parameters that fails at its end
PARAMS = rf"(?>{SWS};{SWS}{GENERIC_PARAM})*"

# Fast paths.  Most messages are written in the canonical spacing; these
# patterns match that form without the backtracking of the general ones, and
# a value they refuse is handed to the general pattern.
# gen-value when it is a token or a host (no quotes): token chars, ':' '[' ']'
FAST_GEN_VALUE = rf"[{TOKEN_CHARS}:\[\]]+"
FAST_PARAMS = rf"(?:;{TOKEN}(?:={FAST_GEN_VALUE})?)*"
# a host matched loosely; callers check it precisely when it looks unusual
FAST_HOST = r"\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.\-]*"

TOKEN_RE = re.compile(TOKEN)
WORD_RE = re.compile(WORD)
QUOTED_STRING_RE = re.compile(QUOTED_STRING)
HOST_RE = re.compile(HOST)
HOSTNAME_RE = re.compile(HOSTNAME)
IPV4ADDRESS_RE = re.compile(IPV4ADDRESS)
PARAMS_RE = re.compile(PARAMS)
FAST_PARAMS_RE = re.compile(FAST_PARAMS)
GEN_VALUE_RE = re.compile(GEN_VALUE)
REASON_PHRASE_RE = re.compile(REASON_PHRASE)
SIP_VERSION_RE = re.compile(SIP_VERSION)
# one parameter at a time, for the tokenizer in fields.params
PARAM_STEP_RE = re.compile(
    rf"{SWS};{SWS}({TOKEN})(?:{SWS}={SWS}({TOKEN}|{HOST}|{QUOTED_STRING}))?"
)

# Request-Line = Method SP Request-URI SP SIP-Version CRLF
REQUEST_LINE_RE = re.compile(rf"({METHOD}) (\S+) ({SIP_VERSION})")
# Status-Line = SIP-Version SP Status-Code SP Reason-Phrase CRLF
STATUS_LINE_RE = re.compile(rf"({SIP_VERSION}) ([0-9]{{3}}) ({REASON_PHRASE})")


def is_token(text: str) -> bool:
    """True if ``text`` is a ``token`` (§25.1)."""
    return TOKEN_RE.fullmatch(text) is not None


def quote(text: str) -> str:
    """Make a ``quoted-string`` of ``text`` (§25.1), escaping ``"``, ``\\`` and controls.

    CR and LF cannot appear in a quoted-string at all (quoted-pair excludes
    them), so they raise ``ValueError`` rather than end the header line.
    """
    if "\r" in text or "\n" in text:
        raise ValueError("CR and LF cannot be quoted in a SIP header (RFC 3261 §25.1)")
    out = text.replace("\\", "\\\\").replace('"', '\\"')
    if _CONTROL_RE.search(out) is not None:  # one C scan, not a generator step per character
        out = _CONTROL_RE.sub(lambda m: "\\" + m.group(), out)
    return '"' + out + '"'


#: the characters quote() escapes beside ``"`` and ``\``: controls but HTAB, and DEL
_CONTROL_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def unquote(text: str) -> str:
    """The content of a ``quoted-string``, quoted-pairs resolved; other text as is."""
    if len(text) >= 2 and text[0] == '"' and text[-1] == '"':
        inner = text[1:-1]
        if "\\" not in inner:
            return inner
        out: list[str] = []
        i = 0
        while i < len(inner):
            ch = inner[i]
            if ch == "\\" and i + 1 < len(inner):
                out.append(inner[i + 1])
                i += 2
            else:
                out.append(ch)
                i += 1
        return "".join(out)
    return text
