# Cython declarations for the compiled build (see fields/base.pxd).

cdef class Headers:
    cdef public object _index, _keys, _lines, _pos, _raw, _vals
