# Cython declarations for the compiled build (see message/fields/base.pxd):
# ResponseContext is an extension type, so that its methods, which run for
# every proxied request and response, read its fields from the object's
# struct.  Every attribute stays readable and writable from Python (public).

cdef class ResponseContext:
    cdef public dict _branches
    cdef public object _request, _request_wire, _state, cancel_grace, group_timeout
    cdef public object invite, targets, timer_c
