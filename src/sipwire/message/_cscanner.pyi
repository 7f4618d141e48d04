# The C twin of scanner.scan (_cscanner.pyx), built in the compiled build only.
from .scanner import Positions

def scan(data: bytes, max_headers: int, max_line_length: int
         ) -> tuple[int, int, str, list[str], list[str], Positions, bool]: ...
