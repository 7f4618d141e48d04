# Cython declarations for the compiled build (see base.pxd).
cimport cython
from .base cimport Field

cdef class CallID(Field):
    cdef public object value

# CallID.parse (a classmethod in the .py): self typed
@cython.locals(self=CallID)
cpdef CallID _parse_call_id(cls, text)
