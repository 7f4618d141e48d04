# Cython declarations for the compiled build (see message/fields/base.pxd):
# the Via these read for every message is typed, so that its fields (host,
# port, transport) are read from its struct.

from ..message.fields.via cimport Via

cpdef udp_response_address(Via via)
cpdef mark_received(Via via, source)
cpdef sent_by_key(Via via)
