# cython: language_level=3, boundscheck=False, wraparound=False
"""The C twin of ``scanner.scan`` for the compiled build.

One pass over the header section's bytes finds the line ends, the first
colon of each header line and any NUL, and checks that there is no bare CR or
LF; no text is made but each header's name, to look its key up.  It handles the usual
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
from cpython.unicode cimport PyUnicode_DecodeASCII

import array as _array

from .scanner import KEYS
from .scanner import scan as scan_python


def scan(bytes data, Py_ssize_t max_headers, Py_ssize_t max_line_length):
    """``scanner.scan``, the same arguments and result."""
    cdef Py_ssize_t size = PyBytes_GET_SIZE(data)
    cdef const unsigned char* p = <const unsigned char*> PyBytes_AS_STRING(data)
    cdef Py_ssize_t end = data.find(b"\r\n\r\n")
    cdef Py_ssize_t start = 0
    cdef Py_ssize_t i, line_start, colon, nheaders = 0, capacity = 32
    cdef unsigned char c
    cdef bint nul = False
    cdef dict keys_of = KEYS
    cdef dict positions = {}
    cdef list keys = []
    cdef array.array offsets
    cdef object key, found, name
    cdef str start_line = None
    if end < 0:
        return scan_python(data, max_headers, max_line_length)
    if size >= 2 and p[0] == 13 and p[1] == 10:
        while start + 1 < size and p[start] == 13 and p[start + 1] == 10:
            start += 2
        if start >= end:
            end = data.find(b"\r\n\r\n", start)
            if end < 0:
                return scan_python(data, max_headers, max_line_length)
    if end - start > max_line_length:
        return scan_python(data, max_headers, max_line_length)
    offsets = array.clone(_OFFSETS, capacity, zero=False)
    i = start
    line_start = start
    colon = -1
    while True:
        c = p[i]
        if c == 13:
            if p[i + 1] != 10:
                return scan_python(data, max_headers, max_line_length)  # bare CR
            # the end of a line (i == end: of the last one)
            if start_line is None:
                start_line = PyUnicode_DecodeASCII(<const char*> p + line_start,
                                                   i - line_start, NULL)
            else:
                if colon < 0:
                    return scan_python(data, max_headers, max_line_length)
                name = PyUnicode_DecodeASCII(<const char*> p + line_start,
                                             colon - line_start, NULL)
                key = keys_of.get(name)
                if key is None:
                    return scan_python(data, max_headers, max_line_length)
                if nheaders + 1 >= capacity:
                    capacity *= 2
                    array.resize(offsets, capacity)
                offsets.data.as_uints[nheaders] = <unsigned int> line_start
                keys.append(key)
                found = positions.get(key)
                if found is None:
                    positions[key] = nheaders
                elif type(found) is int:
                    positions[key] = [found, nheaders]
                else:
                    (<list> found).append(nheaders)
                nheaders += 1
                if nheaders > max_headers:
                    return scan_python(data, max_headers, max_line_length)
            if i == end:
                break
            i += 2
            line_start = i
            colon = -1
            c = p[i]
            if c == 32 or c == 9 or c == 13:  # folded, or empty: the slow path
                return scan_python(data, max_headers, max_line_length)
            continue
        if c >= 128 or c == 10:  # not ASCII, or a bare LF
            return scan_python(data, max_headers, max_line_length)
        if c == 58:
            if colon < 0:
                colon = i
        elif c == 0:
            nul = True
        i += 1
    offsets.data.as_uints[nheaders] = <unsigned int> (end + 2)
    array.resize(offsets, nheaders + 1)
    return start, end, start_line, offsets, keys, positions, nul, None


cdef array.array _OFFSETS = _array.array("I")
