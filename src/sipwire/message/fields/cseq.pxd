# Cython declarations for the compiled build (see base.pxd).
from .base cimport Field

cdef class CSeq(Field):
    cdef public object method, seq
