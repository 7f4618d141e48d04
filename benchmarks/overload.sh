#!/usr/bin/env bash
# Overload: SIPp offers 1x, 2x and 4x a REGISTER rate to `sipwire serve` and
# counts what came back: 200 (goodput), 503 (shed, RFC 3261 §21.5.4) and
# nothing (SIPp gave up on the request).
#
#   bash benchmarks/overload.sh --rate 2000                 # memory store
#   bash benchmarks/overload.sh --rate 2000 --store redis   # a redis-server of its own
#   bash benchmarks/overload.sh --rate 2000 --no-shed       # overload control off
#
# Options:
#   --rate R       the 1x rate, REGISTERs per second: the sustainable rate of the
#                  server on this machine (benchmarks/server.sh finds it); default 2000
#   --secs S       seconds of load per step (default 5): -m R*k*S -r R*k
#   --factors LIST comma list of multiples of R (default 1,2,4)
#   --store KIND   memory (default) or redis (a redis-server started on a free
#                  port for the run and stopped by its PID)
#   --no-shed      --overload-max-lag 0 --overload-max-queue 0 --overload-max-pending 0:
#                  no shedding by the overload control (the store's bounds stay)
#   --serve-args A more flags for `sipwire serve` (e.g. "--overload-max-refused 0.5")
#   --port N       the server's UDP port on 127.0.0.1 (default 17560; SIPp uses N+1)
#   --python PY    interpreter running sipwire (default: python3): the sipwire
#                  installed in its environment, else this checkout's src/
#   --keep         keep the temporary directory
#
# Each step starts a fresh server (uvloop, --auth off, --no-trace, UDP only,
# --max-requests-per-source 0, pinned to the last core; SIPp on the others).
# SIPp's scenario (sipp/register_overload.xml) takes a 503 as an answer; a
# request with no answer is retransmitted (T1 500 ms) and fails after
# -recv_timeout 4 s.  Every step is bounded: SIPp by -timeout, the whole run
# by the number of steps.  Goodput is the 200s over the window from the start
# to the second in which the last 200 came (at least the nominal S seconds),
# from SIPp's per-message counts, written once a second (-trace_counts -fd 1).
# Output: a Markdown table on stdout; progress on stderr.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
DOMAIN=bench.test

RATE=2000
SECS=5
FACTORS="1,2,4"
STORE=memory
SHED=1
PORT=17560
PY=python3
KEEP=0
EXTRA=()

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; }

while (($#)); do
    case $1 in
    --rate) RATE=${2:?}; shift ;;
    --secs) SECS=${2:?}; shift ;;
    --factors) FACTORS=${2:?}; shift ;;
    --store) STORE=${2:?}; shift ;;
    --no-shed) SHED=0 ;;
    --serve-args) read -r -a EXTRA <<<"${2:?}"; shift ;;
    --port) PORT=${2:?}; shift ;;
    --python) PY=${2:?}; shift ;;
    --keep) KEEP=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "overload.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

# the sipwire installed in PY's environment when there is one (the compiled
# build of `pip install .`, say: src/ first on the path would shadow it with
# the pure-Python modules), else this checkout's src/
if ! "$PY" -c 'import sipwire' >/dev/null 2>&1; then
    export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"
fi

for tool in sipp taskset "$PY"; do
    command -v "$tool" >/dev/null || { echo "overload.sh: $tool is not installed" >&2; exit 1; }
done
[[ $STORE == memory || $STORE == redis ]] || { echo "overload.sh: --store memory|redis" >&2; exit 2; }

log() { printf '%s\n' "$*" >&2; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/sipwire-overload.XXXXXX")
STARTED=()
stop_pid() {
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
}
cleanup() {
    local pid
    for pid in "${STARTED[@]}"; do stop_pid "$pid"; done
    if ((KEEP)); then log "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

CORES=$(nproc)
if ((CORES >= 2)); then
    SERVER_PIN=(taskset -c $((CORES - 1)))
    CLIENT_PIN=(taskset -c 0-$((CORES - 2)))
else
    SERVER_PIN=()
    CLIENT_PIN=()
fi

STORE_URL="memory:"
if [[ $STORE == redis ]]; then
    command -v redis-server >/dev/null || { log "overload.sh: redis-server is not installed"; exit 1; }
    REDIS_PORT=$("$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$TMP" >"$TMP/redis.log" 2>&1 &
    STARTED+=("$!")
    for ((i = 0; i < 50; i++)); do
        "$PY" -c "import socket; socket.create_connection(('127.0.0.1', $REDIS_PORT), 0.2)" \
            2>/dev/null && break
        sleep 0.1
    done
    STORE_URL="redis://127.0.0.1:$REDIS_PORT/0"
fi

SHED_FLAGS=("${EXTRA[@]}")
((SHED)) || SHED_FLAGS+=(--overload-max-lag 0 --overload-max-queue 0 --overload-max-pending 0)

start_server() {
    (cd "$TMP" && exec "${SERVER_PIN[@]}" "$PY" -m sipwire.cli.main serve \
        --listen "udp:127.0.0.1:$PORT" --domain "$DOMAIN" --store "$STORE_URL" \
        --users "$TMP/users.db" --auth off --no-trace --log-level warning --uvloop \
        --max-requests-per-source 0 "${SHED_FLAGS[@]}") >>"$TMP/server.log" 2>&1 &
    SERVER_PID=$!
    STARTED+=("$SERVER_PID")
    # up when it answers an OPTIONS
    "$PY" - "$PORT" <<'EOF' || { log "the server did not start:"; tail -n 20 "$TMP/server.log" >&2; exit 1; }
import socket, sys, time
port = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
s.settimeout(0.2)
me = s.getsockname()[1]
for attempt in range(100):
    s.sendto((f"OPTIONS sip:127.0.0.1:{port} SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:{me};"
              f"branch=z9hG4bK-up{attempt}\r\nFrom: <sip:probe@127.0.0.1>;tag=p\r\n"
              f"To: <sip:127.0.0.1>\r\nCall-ID: up{attempt}@probe\r\nCSeq: 1 OPTIONS\r\n"
              "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n").encode(), ("127.0.0.1", port))
    try:
        s.recv(65535)
        sys.exit(0)
    except OSError:
        time.sleep(0.1)
sys.exit(1)
EOF
}

ROWS=()
IFS=',' read -r -a KS <<<"$FACTORS"
for k in "${KS[@]}"; do
    rate=$((RATE * k))
    count=$((rate * SECS))
    dir="$TMP/x$k"
    mkdir -p "$dir"
    start_server
    log "step ${k}x: $count REGISTERs at $rate/s (store $STORE, shedding $( ((SHED)) && echo on || echo off))"
    rc=0
    (cd "$dir" && exec "${CLIENT_PIN[@]}" sipp "127.0.0.1:$PORT" -sf "$HERE/sipp/register_overload.xml" \
        -key domain "$DOMAIN" -key prefix "x${k}u" -i 127.0.0.1 -p $((PORT + 1)) \
        -m "$count" -r "$rate" -rp 1000 -l $((rate * 8)) -recv_timeout 4000 \
        -timeout $((SECS + 40))s -timeout_error -nostdin -buff_size 8388608 \
        -trace_counts -trace_stat -fd 1) >"$dir/sipp.out" 2>&1 || rc=$?
    stop_pid "$SERVER_PID"
    counts=$(ls "$dir"/*_counts.csv 2>/dev/null | head -n 1)
    stat=$(ls "$dir"/register_overload_*_.csv 2>/dev/null | head -n 1)
    if [[ -z $counts || -z $stat ]]; then
        log "  SIPp wrote no counts (exit $rc); its output ends:"; tail -n 5 "$dir/sipp.out" >&2
        ROWS+=("| ${k}x | $rate | $count | - | - | - | - | - | - |")
        continue
    fi
    # the last line of each: 0 REGISTER sent, 2 503 received, 3 200 received
    read -r sent retrans shed ok < <(tail -n 1 "$counts" | awk -F';' '{ print $3, $4, $10, $14 }')
    read -r failed elapsed < <(awk -F';' 'NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; next }
        END { split($col["ElapsedTime(C)"], t, ":"); print $col["FailedCall(C)"], t[1] * 3600 + t[2] * 60 + t[3] + t[4] / 1e6 }' "$stat")
    # the window: from the start to the row (one a second) where the 200s
    # reached their final count, and never shorter than the nominal S seconds
    window=$(awk -F';' -v ok="$ok" -v s="$SECS" 'NR > 1 && $14 == ok && !w {
            split($2, t, ":"); w = t[1] * 3600 + t[2] * 60 + t[3] + t[4] / 1e6 }
        END { printf "%.1f", (w > s ? w : s) }' "$counts")
    goodput=$(awk -v ok="$ok" -v w="$window" 'BEGIN { printf "%.0f", ok / w }')
    pct=$(awk -v g="$goodput" -v r="$RATE" 'BEGIN { printf "%.0f", 100 * g / r }')
    log "  200: $ok, 503: $shed, failed: $failed, retransmissions: $retrans, ${elapsed} s"
    ROWS+=("| ${k}x | $rate | $count | $ok | $shed | $failed | $retrans | $window | $goodput/s ($pct %) |")
done

echo "### REGISTER under overload (store $STORE, shedding $( ((SHED)) && echo on || echo off)${EXTRA[*]:+ ${EXTRA[*]}}, 1x = $RATE/s, $SECS s per step)"
echo
echo "| Offered | Rate (/s) | REGISTERs | 200 | 503 | Failed (no answer) | Retransmissions | Window (s) | Goodput (200s / window, % of 1x rate) |"
echo "|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
