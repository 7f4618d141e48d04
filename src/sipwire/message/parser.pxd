# Cython declarations for the compiled build (see fields/base.pxd): the
# message and its header section typed, so that their fields are read and
# set in their structs, and the helpers called as C functions.

cimport cython

from .headers cimport Headers
from .message cimport Message, Request, Response

@cython.locals(msg=Message, headers=Headers, positions=dict, vals=list)
cpdef parse(data, limits=*, collect=*)

@cython.locals(request=Request, response=Response)
cpdef _start_line(line, limits)

@cython.locals(headers=Headers, positions=dict, vals=list, is_request=bint, raw=str, value=str)
cpdef _check_mandatory(msg, headers, lines)
