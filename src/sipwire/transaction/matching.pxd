# Cython declarations for the compiled build (see message/fields/base.pxd):
# the top Via read for every message is typed, so that its fields are read
# from its struct.

from ..message.fields.via cimport Via

cpdef branch_key_of(Via via)
