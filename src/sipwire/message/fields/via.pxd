# Cython declarations for the compiled build (see base.pxd).
from .base cimport Field

cdef class Via(Field):
    cdef public object _orig, _params, _params0, _params_text, host, port, protocol
    cdef public object transport, version
