# Cython declarations for the compiled build (see base.pxd).
cimport cython
from .base cimport Field

cdef class Via(Field):
    cdef public object _orig, _params, _params0, _params_text, host, port, protocol
    cdef public object transport, version

# Via.parse (a classmethod in the .py): self typed, its attributes set in the struct
@cython.locals(self=Via)
cpdef Via _parse_via(cls, text)
