# Cython declarations for the compiled build (see fields/base.pxd): URI is an
# extension type, so that compiled code reads its fields from the object's
# struct; every attribute stays readable and writable from Python (public),
# as with the __slots__ of the pure build.

cdef class URI:
    cdef public object _headers_text, _host, _opaque, _params, _params0, _params_text
    cdef public object _password, _port, _scheme, _text, _user
