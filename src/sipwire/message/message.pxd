# Cython declarations for the compiled build (see fields/base.pxd).

cimport cython

from .headers cimport Headers

cdef class Message:
    cdef public object _start, _wire, body_bytes, headers

    # the typed accessors' helpers: C calls, the header section's fields
    # read from its struct
    @cython.locals(headers=Headers, values=list)
    cpdef _one(self, str key)
    @cython.locals(headers=Headers, values=list)
    cpdef _int(self, str key)

cdef class Request(Message):
    cdef public object _start_uri, _uri, _uri_parts, method, version

cdef class Response(Message):
    cdef public object reason, status, version
