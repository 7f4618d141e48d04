# Cython declarations for the compiled build (see base.pxd).  Contact and
# RouteAddr stay Python classes deriving from NameAddr.
cimport cython
from .base cimport Field

cdef class NameAddr(Field):
    cdef public object _display0, _params, _params0, _params_text, _uri, _uri_parts
    cdef public object _uri_text, display_name

# NameAddr.parse (a classmethod in the .py): self typed, its attributes set in the struct
@cython.locals(self=NameAddr)
cpdef NameAddr _parse_name_addr(cls, text)
