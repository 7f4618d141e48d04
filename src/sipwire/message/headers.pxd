# Cython declarations for the compiled build (see fields/base.pxd).

cimport cython

cdef class Headers:
    cdef public object _data, _index, _keys, _lines, _offs, _pos, _src, _vals

    # typed: the slice of the message's bytes is decoded with no method call
    @cython.locals(data=bytes, start=Py_ssize_t, end=Py_ssize_t)
    cpdef str _line(self, Py_ssize_t i)


# the positions of a compact form's keys, remade on each edit
@cython.locals(positions=dict, i=Py_ssize_t)
cpdef dict positions_of(list keys)
