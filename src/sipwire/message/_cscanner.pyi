# The C twin of scanner.scan (_cscanner.pyx), built in the compiled build only.
from array import array

from .scanner import Positions

def scan(data: bytes, max_headers: int, max_line_length: int
         ) -> tuple[int, int, str, array[int] | None, list[str], Positions, bool,
                    list[str] | None]: ...
