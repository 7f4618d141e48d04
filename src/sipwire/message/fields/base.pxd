# Cython declarations for the compiled build (setup.py): Field is an extension
# type, so that compiled code reads its attributes from the object's struct.
# The .py file is the source; every attribute stays readable and writable from
# Python (public), as with the __slots__ of the pure build.

cdef class Field:
    cdef public object _raw
