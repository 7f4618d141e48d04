# Cython declarations for the compiled build (see message/fields/base.pxd):
# ProxyCore is an extension type, its configuration read from its struct.

cdef class ProxyCore:
    cdef public object config
