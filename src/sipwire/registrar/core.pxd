# Cython declarations for the compiled build (see message/fields/base.pxd):
# RegistrarCore is an extension type, so that the §10.3 steps, which run for
# every REGISTER, read its settings from the object's struct.  Every
# attribute stays readable and writable from Python (public).

cdef class RegistrarCore:
    cdef public object _supported, _supported_text, agent, aliases, contact_schemes
    cdef public object default_expires, domains, max_contact_length, max_contacts
    cdef public object max_contacts_per_register, max_expires, min_expires, outbound, path
    cdef public object path_requires_supported
