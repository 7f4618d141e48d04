# Cython declarations for the compiled build (see base.pxd).
from .base cimport Field

cdef class CallID(Field):
    cdef public object value
