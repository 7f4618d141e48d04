#!/usr/bin/env bash
# Instructions the server executes per REGISTER (or per proxied call), counted
# by valgrind: a steady measure for comparing two trees when CPU timings drift
# by 5-10 % run to run.
#
#   bash benchmarks/instructions.sh              # the src/ of this checkout
#   bash benchmarks/instructions.sh OTHER/src    # another tree's src/, to compare
#   PYTHON=.venv-compiled/bin/python bash benchmarks/instructions.sh installed
#                                                # the sipwire installed in PYTHON's
#                                                # environment (the compiled build)
#   bash benchmarks/instructions.sh calls [SRC]  # per call instead: INVITE/100/180/
#                                                # 200/ACK/BYE/200 through the proxy,
#                                                # benchmarks/calls_in_process.py
#   bash benchmarks/instructions.sh calls-ended [SRC]
#                                                # per call with the end of its
#                                                # transactions (RFC 3261's timers;
#                                                # each count waits 64*T1 and more)
#   STORE=sqlite bash benchmarks/instructions.sh  # per REGISTER with the SQLite store
#                                                # (a new file for each count; its
#                                                # thread's instructions are counted)
#   bash benchmarks/instructions.sh parse [SRC]  # per message read, as parse.py reads
#                                                # it (proxy read, full read), for each
#                                                # message of benchmarks/messages.py;
#                                                # WITH_SIPPY=1: sippy's count beside it
#
# It runs `profile_server.py register --in-process --no-gc` (`sipwire serve`'s
# Server, its REGISTER datagrams handed to the UDP listener in rounds of 32, no
# sockets, the cyclic collector off) under callgrind twice, for 1,000 and for
# 3,000 REGISTERs after the warm-up, and prints the difference over 2,000:
# start-up and shutdown cancel out.  Python's hash seed is fixed, so the same
# tree gives the same count to a fraction of a percent.  What it leaves out:
# the kernel and the collector (see profile_server.py for those), and it counts
# instructions, not time (a cache miss costs more than an add).
# The calls mode runs calls_in_process.py (the same server, a fake caller and
# callee answering in-process, the collector off) for 300 and 900 calls: the
# fake agents' own work is in the count (about 3 % of it, see that script's
# --agents-only).  CALLGRIND_OUT=PREFIX keeps the two callgrind outputs
# (PREFIX.LOW, PREFIX.HIGH) for callgrind_annotate, to see where they differ.
# Takes about two minutes (calls-ended: about five); needs valgrind (Debian package `valgrind`).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MODE=register
if [ "${1:-}" = calls ] || [ "${1:-}" = calls-ended ] || [ "${1:-}" = register ] \
        || [ "${1:-}" = parse ]; then
    MODE=$1
    shift
fi
SRC=${1:-$(dirname "$HERE")/src}
if ! command -v valgrind >/dev/null; then
    echo "instructions.sh: valgrind is not installed (apt-get install valgrind)" >&2
    exit 2
fi
# the interpreter itself, not a wrapper script (valgrind would count the wrapper);
# a venv's python is kept as it is, so that its site-packages are seen
PY=$("${PYTHON:-python3}" -c 'import sys; print(sys.executable)')

LABEL=$MODE  # how the script run names what it completed
if [ "$MODE" = calls ]; then
    RUN=("$HERE/calls_in_process.py")
    LOW=300 HIGH=900 UNIT=call
elif [ "$MODE" = calls-ended ]; then
    # one call per round: under valgrind a round of 32 calls outlasts T1 and
    # Timer A and E retransmit, which no real run at these rates does
    RUN=("$HERE/calls_in_process.py" --ended --batch 1)
    LOW=300 HIGH=900 UNIT="call, its transactions ended" LABEL=calls
elif [ "$MODE" = parse ]; then
    LOW=1000 HIGH=3000
else
    RUN=("$HERE/profile_server.py" register --in-process --no-gc)
    LOW=1000 HIGH=3000 UNIT=REGISTER
fi

STORE_ARGS=()
if [ "${STORE:-memory}" = sqlite ]; then
    [ "$MODE" = register ] || { echo "instructions.sh: STORE=sqlite is for REGISTER" >&2; exit 2; }
    DB_DIR=$(mktemp -d)
    trap 'rm -rf "$DB_DIR"' EXIT
    UNIT="REGISTER (SQLite store)"
elif [ "${STORE:-memory}" != memory ]; then
    echo "instructions.sh: STORE is memory or sqlite" >&2
    exit 2
fi

count() {
    local out
    [ -n "${DB_DIR:-}" ] && STORE_ARGS=(--store "sqlite:///$DB_DIR/$1.db")
    out=$(PYTHONHASHSEED=0 SIPWIRE_SRC=$SRC valgrind --tool=callgrind \
        --callgrind-out-file="${CALLGRIND_OUT:-/dev/null}${CALLGRIND_OUT:+.$1}" \
        "$PY" "${RUN[@]}" "${STORE_ARGS[@]}" --count "$1" 2>&1) || true
    if ! grep -q "^$LABEL: $1/$1 completed" <<<"$out"; then
        echo "instructions.sh: not every $MODE completed:" >&2
        grep -v '^==' <<<"$out" | tail -5 >&2
        return 0
    fi
    grep "retransmissions by timer" <<<"$out" >&2 || true  # --ended: the run was too slow
    sed -n 's/^==[0-9]*== Collected : \([0-9]*\)$/\1/p' <<<"$out"
}

if [ "$MODE" = parse ]; then
    # parse_loop.py takes the count last, after the message and the mode
    parse_count() {
        PYTHONHASHSEED=0 SIPWIRE_SRC=$SRC valgrind --tool=callgrind --callgrind-out-file=/dev/null \
            "$PY" "$HERE/parse_loop.py" "$@" 2>&1 \
            | sed -n 's/^==[0-9]*== Collected : \([0-9]*\)$/\1/p'
    }
    where=$SRC
    if [ "$SRC" = installed ]; then
        where="$PY ($("$PY" -c 'import sipwire; print(sipwire.BUILD)' 2>/dev/null || echo 'no BUILD'))"
    fi
    echo "$where: instructions per message read"
    for message in INVITE "200 OK" REGISTER OPTIONS; do
        for read in proxy full; do
            low=$(parse_count "$message" $read $LOW)
            high=$(parse_count "$message" $read $HIGH)
            if [ -z "$low" ] || [ -z "$high" ]; then
                echo "instructions.sh: valgrind gave no count for $message $read" >&2
                exit 1
            fi
            line="$message, $read read: $(( (high - low) / (HIGH - LOW) ))"
            if [ -n "${WITH_SIPPY:-}" ]; then
                low=$(parse_count "$message" $read $LOW sippy)
                high=$(parse_count "$message" $read $HIGH sippy)
                sippy=$(( (high - low) / (HIGH - LOW) ))
                line+=" (sippy: $sippy)"
            fi
            echo "$line"
        done
    done
    exit 0
fi

low=$(count $LOW)
high=$(count $HIGH)
if [ -z "$low" ] || [ -z "$high" ]; then
    echo "instructions.sh: valgrind gave no count" >&2
    exit 1
fi
if [ "$SRC" = installed ]; then
    SRC="$PY ($("$PY" -c 'import sipwire; print(sipwire.BUILD)' 2>/dev/null || echo 'no BUILD'))"
fi
echo "$SRC: $(( (high - low) / (HIGH - LOW) )) instructions per $UNIT"
