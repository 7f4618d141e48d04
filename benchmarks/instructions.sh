#!/usr/bin/env bash
# Instructions the server executes per REGISTER, counted by valgrind: a steady
# measure for comparing two trees when CPU timings drift by 5-10 % run to run.
#
#   bash benchmarks/instructions.sh              # the src/ of this checkout
#   bash benchmarks/instructions.sh OTHER/src    # another tree's src/, to compare
#   PYTHON=.venv-compiled/bin/python bash benchmarks/instructions.sh installed
#                                                # the sipwire installed in PYTHON's
#                                                # environment (the compiled build)
#
# It runs `profile_server.py register --in-process --no-gc` (`sipwire serve`'s
# Server, its REGISTER datagrams handed to the UDP listener in rounds of 32, no
# sockets, the cyclic collector off) under callgrind twice, for 1,000 and for
# 3,000 REGISTERs after the warm-up, and prints the difference over 2,000:
# start-up and shutdown cancel out.  Python's hash seed is fixed, so the same
# tree gives the same count to a fraction of a percent.  What it leaves out:
# the kernel and the collector (see profile_server.py for those), and it counts
# instructions, not time (a cache miss costs more than an add).
# Takes about two minutes; needs valgrind (Debian package `valgrind`).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=${1:-$(dirname "$HERE")/src}
if ! command -v valgrind >/dev/null; then
    echo "instructions.sh: valgrind is not installed (apt-get install valgrind)" >&2
    exit 2
fi
# the interpreter itself, not a wrapper script (valgrind would count the wrapper);
# a venv's python is kept as it is, so that its site-packages are seen
PY=$("${PYTHON:-python3}" -c 'import sys; print(sys.executable)')

count() {
    PYTHONHASHSEED=0 SIPWIRE_SRC=$SRC valgrind --tool=callgrind --callgrind-out-file=/dev/null \
        "$PY" "$HERE/profile_server.py" register --in-process --no-gc --count "$1" 2>&1 |
        sed -n 's/^==[0-9]*== Collected : \([0-9]*\)$/\1/p'
}

low=$(count 1000)
high=$(count 3000)
if [ -z "$low" ] || [ -z "$high" ]; then
    echo "instructions.sh: valgrind gave no count" >&2
    exit 1
fi
if [ "$SRC" = installed ]; then
    SRC="$PY ($("$PY" -c 'import sipwire; print(sipwire.BUILD)' 2>/dev/null || echo 'no BUILD'))"
fi
echo "$SRC: $(( (high - low) / 2000 )) instructions per REGISTER"
