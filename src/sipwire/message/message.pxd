# Cython declarations for the compiled build (see fields/base.pxd).

cdef class Message:
    cdef public object _start, _wire, body_bytes, headers

cdef class Request(Message):
    cdef public object _start_uri, _uri, _uri_parts, method, version

cdef class Response(Message):
    cdef public object reason, status, version
