# cython: language_level=3, boundscheck=False, wraparound=False
"""The C twin of ``scanner.scan`` for the compiled build.

One pass over the header section's bytes finds the line ends, the first
colon of each header line, any NUL and the CRLFCRLF that ends the section,
and checks that there is no bare CR or LF; no text is made but the start
line (a header's name is looked up by its bytes).  It handles the usual
message only: ASCII, unfolded, every header name already known to
``scanner.KEYS``, within the limits.  Anything else (a folded or empty line,
a byte over 0x7F, a bare CR or LF, a name seen for the first time, a line
without a colon, a limit reached) is handed to ``scanner.scan``, which
checks it and reports the error: the two give the same answer for every
input (``benchmarks/fuzz_differential.py`` compares the builds).

``parser.py`` imports this module when it was built and ``scanner.scan``
otherwise (a pure-Python install, ``SIPWIRE_NO_EXTENSIONS=1``).
"""

from cpython cimport array
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_GET_SIZE
from cpython.ref cimport PyObject
from cpython.unicode cimport PyUnicode_DecodeASCII
from libc.string cimport memcmp, memset

import array as _array

from .scanner import KEYS
from .scanner import scan as scan_python


def scan(bytes data, Py_ssize_t max_headers, Py_ssize_t max_line_length):
    """``scanner.scan``, the same arguments and result."""
    cdef Py_ssize_t size = PyBytes_GET_SIZE(data)
    cdef const unsigned char* p = <const unsigned char*> PyBytes_AS_STRING(data)
    cdef Py_ssize_t start = 0, end = -1
    cdef Py_ssize_t i, line_start, colon, nheaders = 0, capacity = 32
    cdef unsigned char c
    cdef bint nul = False
    cdef dict positions = {}
    cdef list keys = []
    cdef array.array offsets
    cdef object key, found
    cdef str start_line = None
    if _known != len(_KEYS):
        _learn(_KEYS)
    # §7.5: CRLFs before the start line are skipped
    while start + 1 < size and p[start] == 13 and p[start + 1] == 10:
        start += 2
    offsets = array.clone(_OFFSETS, capacity, zero=False)
    i = start
    line_start = start
    colon = -1
    # one pass to the CRLFCRLF that ends the header section; p[size] is the
    # NUL every bytes object ends with, so p[i + 1] is always readable and the
    # run of ordinary bytes below stops there at the latest
    while True:
        while not _SPECIAL[p[i]]:
            i += 1
        c = p[i]
        if c == 13:
            if p[i + 1] != 10 or i - start > max_line_length:
                # a bare CR, or a section longer than a line may be (the
                # pure scanner checks each line's length)
                return scan_python(data, max_headers, max_line_length)
            # the end of a line
            if start_line is None:
                start_line = PyUnicode_DecodeASCII(<const char*> p + line_start,
                                                   i - line_start, NULL)
            else:
                if colon < 0:
                    return scan_python(data, max_headers, max_line_length)
                key = _key_of(p + line_start, colon - line_start)
                if key is None:  # a name seen for the first time
                    return scan_python(data, max_headers, max_line_length)
                if nheaders + 1 >= capacity:
                    capacity *= 2
                    array.resize(offsets, capacity)
                offsets.data.as_uints[nheaders] = <unsigned int> line_start
                keys.append(key)
                found = positions.setdefault(key, nheaders)
                if type(found) is not int:
                    (<list> found).append(nheaders)
                elif <Py_ssize_t> found != nheaders:
                    positions[key] = [found, nheaders]
                nheaders += 1
                if nheaders > max_headers:
                    return scan_python(data, max_headers, max_line_length)
            if i + 3 < size and p[i + 2] == 13 and p[i + 3] == 10:
                end = i
                break
            i += 2
            line_start = i
            colon = -1
            c = p[i]
            if c == 32 or c == 9 or c == 13:  # folded, or empty: the slow path
                return scan_python(data, max_headers, max_line_length)
            continue
        if c == 58:
            if colon < 0:
                colon = i
        elif c == 0:
            if i >= size:  # no end: the pure scanner says which error
                return scan_python(data, max_headers, max_line_length)
            nul = True
        else:  # not ASCII, or a bare LF
            return scan_python(data, max_headers, max_line_length)
        i += 1
    offsets.data.as_uints[nheaders] = <unsigned int> (end + 2)
    array.resize(offsets, nheaders + 1)
    return start, end, start_line, offsets, keys, positions, nul, None


cdef array.array _OFFSETS = _array.array("I")

# the bytes the loop of scan() stops at: NUL, LF, CR, ':' and every byte over 0x7F
cdef unsigned char _SPECIAL[256]
memset(_SPECIAL, 0, sizeof(_SPECIAL))
memset(&_SPECIAL[128], 1, 128)
_SPECIAL[0] = _SPECIAL[10] = _SPECIAL[13] = _SPECIAL[58] = 1
cdef dict _KEYS = KEYS


# -- header name -> lookup key, with no str made for the name ----------------------
#
# An open-addressing table of the names in ``scanner.KEYS`` (as written:
# "Via", "v", "X-Custom ") by their bytes, rebuilt when KEYS has grown (the
# pure scanner adds each new name it checks, up to its bound).

cdef struct _Slot:
    Py_ssize_t length
    const char* name
    PyObject* key

cdef enum:
    _SLOTS = 16384  # a power of two, over twice the most names KEYS keeps

cdef _Slot _table[_SLOTS]
cdef Py_ssize_t _known = -1
cdef list _alive = []  # the names' bytes and the keys the table points into


cdef inline size_t _hash(const unsigned char* name, Py_ssize_t length) noexcept:
    cdef size_t h = 2166136261u  # FNV-1a
    cdef Py_ssize_t j
    for j in range(length):
        h = (h ^ name[j]) * 16777619u
    return h


cdef void _learn(dict known) except *:
    global _known, _alive
    cdef list alive = []
    cdef bytes raw
    cdef size_t at
    memset(_table, 0, sizeof(_table))
    for name, key in known.items():
        if not (<str> name).isascii() or len(alive) >= _SLOTS:
            continue
        raw = (<str> name).encode("ascii")
        alive.append(raw)
        alive.append(key)
        at = _hash(<const unsigned char*> PyBytes_AS_STRING(raw), len(raw)) & (_SLOTS - 1)
        while _table[at].name != NULL:
            at = (at + 1) & (_SLOTS - 1)
        _table[at].length = len(raw)
        _table[at].name = PyBytes_AS_STRING(raw)
        _table[at].key = <PyObject*> key
    _alive = alive
    _known = len(known)


cdef inline object _key_of(const unsigned char* name, Py_ssize_t length):
    """The lookup key of a header name as written, or None when unknown."""
    cdef size_t at = _hash(name, length) & (_SLOTS - 1)
    while _table[at].name != NULL:
        if _table[at].length == length and memcmp(_table[at].name, name, length) == 0:
            return <object> _table[at].key
        at = (at + 1) & (_SLOTS - 1)
    return None
