# cython: language_level=3, boundscheck=False, wraparound=False
"""C twins of the fast paths of ``Via.parse``, ``NameAddr.parse``,
``split_params``, ``CallID.parse``, ``CSeq.parse``, the numbers of
``simple.py``, the start line of ``parser.py`` and the auth-params of
``auth.py``, for the compiled build.

Each function reads the value's characters once and returns plain tuples (or
a dict) with what the Python code needs to fill the object.  They handle the
usual spelling only, ASCII text that the fast patterns of ``via.py``
(``_VIA_FAST_RE``), ``nameaddr.py`` (``_FAST_RE``, with ``SIP_URI_FAST``
of ``uri.py``), ``simple.py`` (``_CALLID_RE``), ``cseq.py`` (``_CSEQ_RE``) and
``parser.py`` (``_REQUEST_LINE_FAST_RE``) match and that passes the checks done after those patterns.
Anything else gives None: "not sure", and the caller runs the patterns,
which are the pure-Python twin of this module and report every error.  So a
value these functions accept gives the same parts as the patterns' groups,
and a value they refuse meets the same code and errors as in the pure build
(``tests/message/test_cfields.py`` compares the two).

No import of the field modules here: they import this one.
"""

from libc.string cimport memcmp

cdef extern from "Python.h":
    bint PyUnicode_IS_ASCII(object o)
    void* PyUnicode_DATA(object o)
    Py_ssize_t PyUnicode_GET_LENGTH(object o)

# character classes of the fast patterns (ASCII only), one bit each
cdef enum:
    C_TOKEN = 1 << 0      # token (RFC 3261 §25.1)
    C_GENVAL = 1 << 1     # FAST_GEN_VALUE: token / ':' / '[' / ']'
    C_ALNUM = 1 << 2
    C_HOST = 1 << 3       # FAST_HOST after its first character: alphanum / '.' / '-'
    C_V6 = 1 << 4         # inside an IPv6 reference: HEXDIG / ':' / '.'
    C_USER = 1 << 5       # unreserved / '&=+$,;?/' / '%' (SIP_URI_FAST's user)
    C_PASS = 1 << 6       # unreserved / '&=+$,' / '%' (its password)
    C_UPARAM = 1 << 7     # '[]/:&+$' / unreserved / '%' (its parameters)
    C_UHEADER = 1 << 8    # '[]/?:+$' / unreserved / '%' (its headers)
    C_DISPLAY = 1 << 9    # token / SP: an unquoted display name
    C_HEX = 1 << 10
    C_WORD = 1 << 11      # word (RFC 3261 §25.1): token / "()<>:\"/[]?{}" and DQUOTE
    C_REASON = 1 << 12    # Reason-Phrase's ASCII: reserved / unreserved / '%' / SP / HTAB

cdef unsigned short CLASSES[128]


cdef void _fill(bytes chars, unsigned short bit):
    cdef unsigned char c
    for c in chars:
        CLASSES[c] |= bit


cdef void _init_classes():
    cdef bytes alnum = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    cdef bytes token = alnum + b"-.!%*_+`'~"
    cdef bytes unreserved = alnum + b"-_.!~*'()"
    _fill(token, C_TOKEN)
    _fill(token + b":[]", C_GENVAL)
    _fill(alnum, C_ALNUM)
    _fill(alnum + b".-", C_HOST)
    _fill(b"0123456789ABCDEFabcdef:.", C_V6)
    _fill(unreserved + b"&=+$,;?/%", C_USER)
    _fill(unreserved + b"&=+$,%", C_PASS)
    _fill(unreserved + b"[]/:&+$%", C_UPARAM)
    _fill(unreserved + b"[]/?:+$%", C_UHEADER)
    _fill(token + b" ", C_DISPLAY)
    _fill(b"0123456789ABCDEFabcdef", C_HEX)
    _fill(token + b"()<>:\\\"/[]?{}", C_WORD)
    _fill(unreserved + b";/?:@&=+$,% \t", C_REASON)


_init_classes()


# The text of an ASCII str is followed by a NUL (CPython's compact strings), in
# no class and no delimiter: a loop over a class or a test for a delimiter at
# p[n] stops there with no bounds check.  A NUL inside the text stops it too,
# and then the value is refused, as the patterns refuse it.
cdef inline bint _is(const unsigned char* p, Py_ssize_t i, unsigned short bit):
    return (CLASSES[p[i]] & bit) != 0


cdef inline Py_ssize_t _host(const unsigned char* p, Py_ssize_t i):
    """The end of FAST_HOST (``\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9][A-Za-z0-9.\\-]*``)
    starting at ``i``, or -1."""
    cdef Py_ssize_t start = i
    if p[i] == 91:  # '['
        i += 1
        while _is(p, i, C_V6):
            i += 1
        if i == start + 1 or p[i] != 93:  # ']'
            return -1
        return i + 1
    if not _is(p, i, C_ALNUM):
        return -1
    i += 1
    while _is(p, i, C_HOST):
        i += 1
    return i


cdef inline bint _unusual_host(const unsigned char* p, Py_ssize_t start, Py_ssize_t end):
    """``not host[-1].isalpha() or "-" in host or ".." in host``: the hosts
    that the Python code checks with ``check_host``."""
    cdef unsigned char c = p[end - 1]
    cdef Py_ssize_t i
    if not ((65 <= c <= 90) or (97 <= c <= 122)):
        return True
    for i in range(start, end):
        c = p[i]
        if c == 45 or (c == 46 and i + 1 < end and p[i + 1] == 46):
            return True
    return False


cdef inline Py_ssize_t _fast_params(const unsigned char* p, Py_ssize_t i):
    """The end of FAST_PARAMS (``(?:;token(?:=gen-value)?)*``) from ``i``, or -1
    when a ';' or '=' there has nothing after it (the pattern fails there)."""
    cdef Py_ssize_t k
    while p[i] == 59:  # ';'
        i += 1
        k = i
        while _is(p, i, C_TOKEN):
            i += 1
        if i == k:
            return -1
        if p[i] == 61:  # '='
            i += 1
            k = i
            while _is(p, i, C_GENVAL):
                i += 1
            if i == k:
                return -1
    return i


cdef inline Py_ssize_t _skip_wsp(const unsigned char* p, Py_ssize_t i):
    while p[i] == 32 or p[i] == 9:
        i += 1
    return i


def scan_via(object text):
    """``(transport, host, port, params_text, check)`` of a via-parm in the
    usual spelling ``SIP/2.0/UDP host:port;params``, or None.

    ``transport`` is upper-cased, ``port`` an int (None when sent-by has
    none; a port that ``Via.parse`` refuses gives None here), ``check`` True
    when the host is one that ``check_host`` must see.
    """
    if type(text) is not str or not PyUnicode_IS_ASCII(text):
        return None
    cdef str s = <str> text
    cdef const unsigned char* p = <const unsigned char*> PyUnicode_DATA(s)
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(s)
    cdef Py_ssize_t i, t0, t1, h0, h1, k, tail0, tail1
    cdef bint lower = False, has_port = False
    cdef long port = 0
    cdef unsigned char c
    i = _skip_wsp(p, 0)
    if n - i < 8 or memcmp(p + i, b"SIP/2.0/", 8) != 0:
        return None
    i += 8
    t0 = i
    while _is(p, i, C_TOKEN):
        c = p[i]
        if 97 <= c <= 122:
            lower = True
        i += 1
    t1 = i
    if t1 == t0 or p[i] != 32:
        return None
    h0 = i + 1
    h1 = _host(p, h0)
    if h1 < 0:
        return None
    i = h1
    if p[i] == 58:  # ':'
        i += 1
        k = i
        while 48 <= p[i] <= 57:
            if i - k == 5:  # more than 5 digits: Via.parse says why not
                return None
            port = port * 10 + (p[i] - 48)
            i += 1
        if i == k or port > 65535:
            return None
        has_port = True
    tail0 = i
    tail1 = _fast_params(p, i)
    if tail1 < 0 or _skip_wsp(p, tail1) != n:
        return None
    transport = s[t0:t1]
    if lower:
        transport = transport.upper()
    return (transport, s[h0:h1], port if has_port else None, s[tail0:tail1],
            _unusual_host(p, h0, h1))


cdef object _sip_uri(str s, const unsigned char* p, Py_ssize_t n, Py_ssize_t i,
                     Py_ssize_t* out):
    """The six groups of ``SIP_URI_FAST`` (user, password, host, port,
    parameters, headers) for the SIP or SIPS URI that starts at ``i``, with
    its end in ``out[0]`` and its host's start and end in ``out[1:3]``; None when the pattern fails there, or when ``check_fast``
    would refuse the port (over 65535) or an escape.  The character at the end
    is the caller's to check (none of the URI's sets holds SP or '>')."""
    cdef Py_ssize_t u0 = i, k, m, h0, h1, pr0, hd0
    cdef long port = 0
    cdef object user = None, password = None, port_text = None, headers = None
    # [Ss][Ii][Pp][Ss]?:
    if n - i < 5 or (p[i] | 32) != 115 or (p[i + 1] | 32) != 105 or (p[i + 2] | 32) != 112:
        return None
    if p[i + 3] == 58:
        i += 4
    elif (p[i + 3] | 32) == 115 and p[i + 4] == 58:
        i += 5
    else:
        return None
    # [ user [ ":" password ] "@" ]: neither set holds ':' or '@'
    k = i
    while _is(p, k, C_USER):
        k += 1
    if k > i and k < n:
        if p[k] == 64:  # '@'
            user = s[i:k]
            i = k + 1
        elif p[k] == 58:  # ':'
            m = k + 1
            while _is(p, m, C_PASS):
                m += 1
            if p[m] == 64:
                user = s[i:k]
                password = s[k + 1:m]
                i = m + 1
    h0 = i
    h1 = _host(p, h0)
    if h1 < 0:
        return None
    i = h1
    if p[i] == 58:  # ':' port, 1 to 5 digits
        i += 1
        k = i
        while 48 <= p[i] <= 57:
            if i - k == 5:
                return None
            port = port * 10 + (p[i] - 48)
            i += 1
        if i == k or port > 65535:
            return None
        port_text = s[k:i]
    # uri-parameters: (;P+(=P+)?)*
    pr0 = i
    while p[i] == 59:
        i += 1
        k = i
        while _is(p, i, C_UPARAM):
            i += 1
        if i == k:
            return None
        if p[i] == 61:
            i += 1
            k = i
            while _is(p, i, C_UPARAM):
                i += 1
            if i == k:
                return None
    params = s[pr0:i]
    # headers: ?H+=H*(&H+=H*)*
    if p[i] == 63:  # '?'
        i += 1
        hd0 = i
        while True:
            k = i
            while _is(p, i, C_UHEADER):
                i += 1
            if i == k or p[i] != 61:
                return None
            i += 1
            while _is(p, i, C_UHEADER):
                i += 1
            if p[i] == 38:  # '&'
                i += 1
                continue
            break
        headers = s[hd0:i]
    # escapes: every '%' starts %HH (check_fast)
    for k in range(u0, i):
        if p[k] == 37 and (k + 2 >= i or not (CLASSES[p[k + 1]] & C_HEX)
                           or not (CLASSES[p[k + 2]] & C_HEX)):
            return None
    out[0] = i
    out[1] = h0
    out[2] = h1
    return (user, password, s[h0:h1], port_text, params, headers)


def scan_name_addr(object text):
    """``(display_name, uri_text, uri_parts, params_text, check)`` of a
    name-addr in the usual spelling ``[name] <sip:...>;params``, or None.

    ``display_name`` is what ``NameAddr.display_name`` holds (None when
    absent), ``uri_parts`` the six groups of ``SIP_URI_FAST`` (user,
    password, host, port, parameters, headers) and ``check`` True when the
    host is one that ``check_fast`` must see; a port over 65535 or a bad
    escape gives None.
    """
    if type(text) is not str or not PyUnicode_IS_ASCII(text):
        return None
    cdef str s = <str> text
    cdef const unsigned char* p = <const unsigned char*> PyUnicode_DATA(s)
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(s)
    cdef Py_ssize_t i, d0, d1, u0, u1, tail0, tail1
    cdef Py_ssize_t out[3]
    cdef unsigned char c
    cdef object display, parts
    i = _skip_wsp(p, 0)
    if p[i] == 34:  # '"': a quoted display name without quoted-pairs
        i += 1
        d0 = i
        while i < n and p[i] != 34:
            c = p[i]
            if c == 92 or (c < 32 and c != 9) or c == 127:
                return None
            i += 1
        if i >= n:
            return None
        display = s[d0:i]
        i = _skip_wsp(p, i + 1)
    else:
        d0 = i
        while _is(p, i, C_DISPLAY):
            i += 1
        d1 = i
        while d1 > d0 and p[d1 - 1] == 32:
            d1 -= 1
        display = s[d0:d1] if d1 > d0 else None
    if p[i] != 60:  # '<'
        return None
    u0 = i + 1
    parts = _sip_uri(s, p, n, u0, out)
    if parts is None or p[out[0]] != 62:  # '>'
        return None
    u1 = out[0]
    tail0 = u1 + 1
    tail1 = _fast_params(p, tail0)
    if tail1 < 0 or _skip_wsp(p, tail1) != n:
        return None
    return (display, s[u0:u1], parts, s[tail0:tail1], _unusual_host(p, out[1], out[2]))


# the methods of RFC 3261 and its extensions: the same str object each time
cdef tuple _KNOWN_METHODS = ("INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "PRACK",
                             "SUBSCRIBE", "NOTIFY", "PUBLISH", "INFO", "REFER", "MESSAGE",
                             "UPDATE")


def scan_request_line(object text):
    """``(method, uri_text, uri_parts, check)`` of a Request-Line in the usual
    spelling ``METHOD sip:... SIP/2.0``, or None.

    The C twin of ``_REQUEST_LINE_FAST_RE`` of ``parser.py`` and the port and
    escape checks of ``check_fast`` after it: ``uri_parts`` are the six
    groups of ``SIP_URI_FAST`` and ``check`` is True when the host is one
    that ``check_fast`` must see.
    """
    if type(text) is not str or not PyUnicode_IS_ASCII(text):
        return None
    cdef str s = <str> text
    cdef const unsigned char* p = <const unsigned char*> PyUnicode_DATA(s)
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(s)
    cdef Py_ssize_t i = 0, u1
    cdef Py_ssize_t out[3]
    cdef object parts, method = None
    cdef str known
    while _is(p, i, C_TOKEN):
        i += 1
    if i == 0 or p[i] != 32:
        return None
    for known in _KNOWN_METHODS:
        if PyUnicode_GET_LENGTH(known) == i and memcmp(PyUnicode_DATA(known), p, i) == 0:
            method = known
            break
    parts = _sip_uri(s, p, n, i + 1, out)
    u1 = out[0]
    if parts is None or n - u1 != 8 or memcmp(p + u1, b" SIP/2.0", 8) != 0:
        return None
    if method is None:
        method = s[:i]
    return (method, s[i + 1:u1], parts, _unusual_host(p, out[1], out[2]))


def scan_status_line(object text):
    """``(status, reason)`` of a Status-Line in the usual spelling
    ``SIP/2.0 200 OK`` (ASCII, status 100 to 699), or None: what the
    Status-Line branch of ``_start_line`` in ``parser.py`` accepts, for the
    version written exactly ``SIP/2.0``."""
    if type(text) is not str or not PyUnicode_IS_ASCII(text):
        return None
    cdef str s = <str> text
    cdef const unsigned char* p = <const unsigned char*> PyUnicode_DATA(s)
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(s)
    cdef Py_ssize_t i, r
    cdef long status
    if n < 12 or memcmp(p, b"SIP/2.0 ", 8) != 0:
        return None
    i = 8
    while p[i] == 32:  # "SIP/2.0  486" (RFC 3665 §3.9): extra spaces taken as one
        i += 1
    if not (49 <= p[i] <= 54 and 48 <= p[i + 1] <= 57 and 48 <= p[i + 2] <= 57) \
            or p[i + 3] != 32:
        return None
    status = (p[i] - 48) * 100 + (p[i + 1] - 48) * 10 + (p[i + 2] - 48)
    r = i + 4
    i = r
    while _is(p, i, C_REASON):
        i += 1
    if i != n:
        return None
    return (<object> status, s[r:])


# the usual parameter names: the same str object each time, its hash computed once
cdef tuple _KNOWN_NAMES = ("branch", "received", "rport", "tag", "lr", "transport", "maddr",
                           "ttl", "expires", "q", "user", "method")


cdef inline object _known_name(str s, const unsigned char* p, Py_ssize_t a, Py_ssize_t b):
    """``s[a:b]``, or the equal str of _KNOWN_NAMES."""
    cdef Py_ssize_t size = b - a
    cdef str known
    for known in _KNOWN_NAMES:
        if PyUnicode_GET_LENGTH(known) == size and \
                memcmp(PyUnicode_DATA(known), p + a, size) == 0:
            return known
    return s[a:b]


def split_params(object text):
    """``fields.params.split_params`` for ASCII text without quotes, else None:
    ``text.split(";")[1:]``, each part cut at its first '=', name and value
    stripped of SP and HTAB, the name lower-cased."""
    if type(text) is not str or not PyUnicode_IS_ASCII(text):
        return None
    cdef str s = <str> text
    cdef const unsigned char* p = <const unsigned char*> PyUnicode_DATA(s)
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(s)
    cdef Py_ssize_t i, j, k, eq, a, b, first = -1
    cdef bint upper
    cdef dict params = {}
    cdef unsigned char c
    for i in range(n):
        c = p[i]
        if c == 34:  # '"': parse_params
            return None
        if c == 59 and first < 0:
            first = i
    if first < 0:
        return params
    i = first + 1
    while True:
        j = i
        eq = -1
        while j < n and p[j] != 59:
            if p[j] == 61 and eq < 0:
                eq = j
            j += 1
        # the name: [i, eq or j) stripped
        a = i
        b = eq if eq >= 0 else j
        while a < b and (p[a] == 32 or p[a] == 9):
            a += 1
        while b > a and (p[b - 1] == 32 or p[b - 1] == 9):
            b -= 1
        upper = False
        for k in range(a, b):
            if 65 <= p[k] <= 90:
                upper = True
                break
        if upper:
            name = s[a:b].lower()
        else:
            name = _known_name(s, p, a, b)
        if eq >= 0:
            a = eq + 1
            b = j
            while a < b and (p[a] == 32 or p[a] == 9):
                a += 1
            while b > a and (p[b - 1] == 32 or p[b - 1] == 9):
                b -= 1
            params[name] = s[a:b]
        else:
            params[name] = None
        if j >= n:
            break
        i = j + 1
    return params


def scan_call_id(object text):
    """``text.strip(" \t")`` when it is a ``callid`` (``word [ "@" word ]``,
    what ``_CALLID_RE`` of ``simple.py`` matches), else None."""
    if type(text) is not str or not PyUnicode_IS_ASCII(text):
        return None
    cdef str s = <str> text
    cdef const unsigned char* p = <const unsigned char*> PyUnicode_DATA(s)
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(s)
    cdef Py_ssize_t a, i, k
    a = i = _skip_wsp(p, 0)
    while _is(p, i, C_WORD):
        i += 1
    if i == a:
        return None
    if p[i] == 64:  # '@'
        i += 1
        k = i
        while _is(p, i, C_WORD):
            i += 1
        if i == k:
            return None
    if _skip_wsp(p, i) != n:
        return None
    if a == 0 and i == n:
        return s
    return s[a:i]


def scan_cseq(object text):
    """``(seq, method)`` of a CSeq value that ``_CSEQ_RE`` of ``cseq.py``
    matches (``[ \t]*1*DIGIT LWS Method[ \t]*``) with a sequence number
    below 2**31, else None."""
    if type(text) is not str or not PyUnicode_IS_ASCII(text):
        return None
    cdef str s = <str> text
    cdef const unsigned char* p = <const unsigned char*> PyUnicode_DATA(s)
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(s)
    cdef Py_ssize_t i, k, m0
    cdef long long seq = 0
    cdef str known
    i = k = _skip_wsp(p, 0)
    while 48 <= p[i] <= 57:
        if i - k == 10:  # CSeq.parse says why not
            return None
        seq = seq * 10 + (p[i] - 48)
        i += 1
    if i == k or seq >= 2147483648 or (p[i] != 32 and p[i] != 9):
        return None
    m0 = i = _skip_wsp(p, i)
    while _is(p, i, C_TOKEN):
        i += 1
    if i == m0 or _skip_wsp(p, i) != n:
        return None
    for known in _KNOWN_METHODS:
        if PyUnicode_GET_LENGTH(known) == i - m0 and \
                memcmp(PyUnicode_DATA(known), p + m0, i - m0) == 0:
            return (<object> seq, known)
    return (<object> seq, s[m0:i])


def scan_number(object text):
    """The value of ``[ \t]*1*9DIGIT[ \t]*``: what ``base.parse_int`` reads
    first, with no range check (the caller compares with its maximum), else
    None."""
    if type(text) is not str or not PyUnicode_IS_ASCII(text):
        return None
    cdef str s = <str> text
    cdef const unsigned char* p = <const unsigned char*> PyUnicode_DATA(s)
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(s)
    cdef Py_ssize_t i, k
    cdef long value = 0
    i = k = _skip_wsp(p, 0)
    while 48 <= p[i] <= 57:
        if i - k == 9:  # parse_int's longer path
            return None
        value = value * 10 + (p[i] - 48)
        i += 1
    if i == k or _skip_wsp(p, i) != n:
        return None
    return value


def scan_auth_params(object text, Py_ssize_t pos):
    """``_parse_auth_params`` of ``auth.py`` for the usual credentials and
    challenges, else None: ``text[pos:]`` ASCII and, to its end, ``auth-param
    *(COMMA auth-param)`` (what ``_AUTH_PARAMS_RE`` matches) with no
    quoted-pair in a quoted-string and no parameter named twice.  The dict
    maps each name, lower-cased, to its value as written (a quoted-string with
    its quotes), in order, as ``_AUTH_PARAM_RE.findall`` gives them."""
    if type(text) is not str or not PyUnicode_IS_ASCII(text):
        return None
    cdef str s = <str> text
    cdef const unsigned char* p = <const unsigned char*> PyUnicode_DATA(s)
    cdef Py_ssize_t n = PyUnicode_GET_LENGTH(s)
    cdef Py_ssize_t i = pos, a, b, v0
    cdef unsigned char c
    cdef bint upper
    cdef dict params = {}
    cdef object name
    if pos < 0 or pos >= n:
        return None
    while True:
        # auth-param-name SWS "=" SWS
        a = i
        upper = False
        while _is(p, i, C_TOKEN):
            if 65 <= p[i] <= 90:
                upper = True
            i += 1
        if i == a:
            return None
        b = i
        i = _skip_wsp(p, i)
        if p[i] != 61:  # '='
            return None
        i = _skip_wsp(p, i + 1)
        # token / quoted-string (qdtext only: a quoted-pair is the pattern's)
        v0 = i
        if p[i] == 34:  # '"'
            i += 1
            while True:
                c = p[i]
                if c == 34:
                    break
                if c == 92 or not (c == 9 or 32 <= c <= 126):  # NUL at the end too
                    return None
                i += 1
            i += 1
        else:
            while _is(p, i, C_TOKEN):
                i += 1
            if i == v0:
                return None
        name = s[a:b].lower() if upper else s[a:b]
        if name in params:  # RFC 7235 §2.1: the Python code says why not
            return None
        params[name] = s[v0:i]
        if i == n:
            return params
        # SWS "," SWS before the next auth-param
        i = _skip_wsp(p, i)
        if p[i] != 44:  # ','
            return None
        i = _skip_wsp(p, i + 1)
