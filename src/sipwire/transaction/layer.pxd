# Cython declarations for the compiled build (see message/fields/base.pxd):
# TransactionLayer is an extension type, so that its methods, which run for
# every message, read its tables from the object's struct, and call the
# dict and list methods on them directly.  Every attribute stays readable and
# writable from Python (public), as with the __slots__ of the pure build.

cdef class TransactionLayer:
    cdef public dict _by_2543, _by_branch, _by_branch_more, _clients, _completed, _merge
    cdef public dict _merge_keys, _pushed, _servers, _waiting_j
    cdef public list _heap
    cdef public object _counter, _j_at, _j_count, _j_keys, _j_opened, _on_change, config
    cdef public object detect_merged_requests
