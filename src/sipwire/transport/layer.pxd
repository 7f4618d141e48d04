# Cython declarations for the compiled build (see message/fields/base.pxd):
# TransportLayer is an extension type, so that its methods, which run for
# every message sent and received, read its fields from the object's struct
# and call the dict and list methods on its tables directly.  Every attribute
# stays readable and writable from Python (public).

cdef class TransportLayer:
    cdef public dict _connecting, _pool, _routes, _sent_by, _sent_by_of, _sources
    cdef public list _points, _stream_servers, _udp, _ws_servers
    cdef public set _connections, _tasks
    cdef public object _client_tls, _closed, _closing, _log, config, on_connection
    cdef public object on_message
