# Cython declarations for the compiled build (see fields/base.pxd).

cimport cython

cdef class Headers:
    cdef public object _data, _index, _keys, _lines, _offs, _pos, _src, _vals

    # typed: the slice of the message's bytes is decoded with no method call
    @cython.locals(data=bytes, start=Py_ssize_t, end=Py_ssize_t)
    cpdef str _line(self, Py_ssize_t i)

    # called from message.py's accessors and from each other: C calls, not
    # Python method calls
    @cython.locals(vals=list)
    cpdef list _typed_at(self, Py_ssize_t i, str key)
    @cython.locals(found=list)
    cpdef list _typed(self, str key)
    # the edits' and serialization's own steps
    cpdef _first(self, key)
    cpdef list _new_lines(self, name, value)
    cpdef _put(self, Py_ssize_t at, list lines, Py_ssize_t drop)
    cpdef _cut(self, list where)
    cpdef str _serialize_compact(self)


# the positions of a compact form's keys, remade on each edit
@cython.locals(positions=dict, i=Py_ssize_t)
cpdef dict positions_of(list keys)


# a header line's typed values (every typed read but the parser's own)
cpdef list _parse_value(cls, str key, name, str value)


# Headers._parsed (a classmethod in the .py): self typed, its fields set in the struct
@cython.locals(self=Headers)
cpdef Headers compact_headers(cls, data, offsets, keys, positions)


# module helpers called from the methods above: C calls, not Python calls
@cython.locals(keys=dict)
cpdef header_key(name)
cpdef bint _changed(values)
cpdef str _run(data, offs, Py_ssize_t first, Py_ssize_t last)
cpdef str _joined(list values)
