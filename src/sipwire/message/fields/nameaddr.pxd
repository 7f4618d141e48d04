# Cython declarations for the compiled build (see base.pxd).  Contact and
# RouteAddr stay Python classes deriving from NameAddr.
from .base cimport Field

cdef class NameAddr(Field):
    cdef public object _display0, _params, _params0, _params_text, _uri, _uri_parts
    cdef public object _uri_text, display_name
