# Cython declarations for the compiled build (see base.pxd).
cimport cython
from .base cimport Field

cdef class CSeq(Field):
    cdef public object method, seq

# CSeq.parse (a classmethod in the .py): self typed
@cython.locals(self=CSeq)
cpdef CSeq _parse_cseq(cls, text)
