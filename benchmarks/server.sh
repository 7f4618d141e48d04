#!/usr/bin/env bash
# SIPp load against `sipwire serve` and, in the same run, against Kamailio.
#
#   bash benchmarks/server.sh            # full run (10-20 minutes)
#   bash benchmarks/server.sh --quick    # fewer, shorter steps (a few minutes)
#
# Options:
#   --quick          rates 500..40000/s, 2 s of load per step instead of 5 s,
#                    with the same two bisection steps as the full run
#   --port N         first of the 4 UDP ports used on 127.0.0.1 (default: 17060,
#                    or the next free block of 4 when one of those is taken)
#   --only LIST      comma list of servers: sipwire,sqlite,kamailio (default all)
#   --python PY      interpreter running sipwire (default: python3): the sipwire
#                    installed in its environment, else this checkout's src/
#   --keep           keep the temporary directory (SIPp logs, server logs)
#   --fixed N        instead of searching for the highest rate, run each load N
#                    times at issue 13's fixed rates, which both servers sustain
#                    (REGISTER 3000/s, calls 300/s), 10 s of load per run, and
#                    compare the median server CPU per request (targets: sipwire
#                    at least 0.6 of Kamailio's for REGISTER, 0.5 for calls).
#                    The runs go in rounds, each server once per round, and the
#                    ratio is also given round by round (drift over the run
#                    touches both servers of a round alike)
#   --workers N      N sipwire worker processes (serve --workers N) and N Kamailio
#                    SIP workers (-n N); default 1.  With N > 1 the "sipwire" server
#                    uses the SQLite store (the memory store is one process's),
#                    SIPp sends each call from its own socket (-t un, so the
#                    kernel's SO_REUSEPORT hash spreads them over the workers),
#                    and the server gets the last N cores when there are more.
#
# What it measures, for each server:
#   REGISTER  SIPp UAC registers distinct users (r<RATE>u<N>@bench.test, one
#             binding each, no auth), expects 200;
#   calls     a SIPp UAS is registered once as bob@bench.test; a SIPp UAC
#             calls bob through the proxy: INVITE -> (100) 180 200 -> ACK ->
#             BYE -> 200, no hold time; ACK and BYE are loose-routed along
#             the Record-Route.
# The offered rate is stepped up (-r RATE -rp 1000 -m RATE*SECS, a freshly
# started server for every step) and stops at the first failing step; the full
# run then tries two rates halfway between the last pass and the first failure
# (bisection).  A step passes when fewer than 0.1 % of its calls failed AND
# SIPp finished within 5 % (+0.25 s) of the nominal SECS, i.e. the server kept
# up with the offered rate.
# Server CPU is utime+stime from /proc (the process and its children, so all
# of Kamailio's processes) over the step's wall time; SIPp CPU likewise for
# the SIPp processes.  With two or more cores the server is pinned to the
# last core and SIPp to the others (taskset), so each server has one core.
# Before each step the script waits (up to 60 s) for other work on the
# machine to stop, and reports what other processes used during the step.
#
# Servers:
#   sipwire   python -m sipwire.cli.main serve, uvloop, --store memory:,
#             --auth off, --no-trace, --log-level warning, UDP only,
#             --max-requests-per-source 0 (SIPp's load comes from one address)
#   sqlite    the same with the default SQLite store (REGISTER only)
#   kamailio  benchmarks/kamailio/kamailio.cfg: usrloc in memory, registrar,
#             tm, rr; children=1 (one SIP worker), TCP off
#
# Output: Markdown on stdout (machine, summary, every step); progress on
# stderr.  Everything else lives in a temporary directory removed on exit.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")
SIPP_DIR="$HERE/sipp"
KAM_CFG="$HERE/kamailio/kamailio.cfg"
DOMAIN=bench.test

QUICK=0
BASE_PORT=17060
PORT_GIVEN=
KEEP=0
ONLY="sipwire,sqlite,kamailio"
PY=python3
WORKERS=1
FIXED=0
declare -A FIXED_RATE=([REGISTER]=3000 [calls]=300)

usage() {
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
}

while (($#)); do
    case $1 in
    --quick) QUICK=1 ;;
    --port) BASE_PORT=${2:?--port needs a value}; PORT_GIVEN=1; shift ;;
    --only) ONLY=${2:?--only needs a value}; shift ;;
    --python) PY=${2:?--python needs a value}; shift ;;
    --keep) KEEP=1 ;;
    --workers) WORKERS=${2:?--workers needs a value}; shift ;;
    --fixed) FIXED=${2:?--fixed needs a count}; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "server.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

if ((FIXED)); then
    RATES=("${FIXED_RATE[REGISTER]}" "${FIXED_RATE[calls]}")
    STEP_SECS=10
    REFINE=0
elif ((QUICK)); then
    # the bisection tells 10,000 from 15,000/s, say, where the steps alone
    # cannot; 40000 bounds a server that passes 20000
    RATES=(500 1000 2000 5000 10000 20000 40000)
    STEP_SECS=2
    REFINE=2
else
    REFINE=2
    RATES=(100 200 300 500 700 1000 1500 2000 3000 4000 5000 6000 8000 10000 12500 15000 20000 25000 30000 40000)
    STEP_SECS=5
fi

# the sipwire installed in PY's environment when there is one (the compiled
# build of `pip install .`, say: src/ first on the path would shadow it with
# the pure-Python modules), else this checkout's src/
if ! "$PY" -c 'import sipwire' >/dev/null 2>&1; then
    export PYTHONPATH="$ROOT/src${PYTHONPATH:+:$PYTHONPATH}"
fi
for tool in sipp sipsak "$PY"; do
    command -v "$tool" >/dev/null || { echo "server.sh: $tool not found" >&2; exit 2; }
done
if [[ ,$ONLY, == *,kamailio,* ]] && ! command -v kamailio >/dev/null; then
    echo "server.sh: kamailio not found" >&2
    exit 2
fi

port_busy() { [[ -n $(ss -Huan "sport = :$1" 2>/dev/null) ]]; }
ports_busy() {  # BASE: is any of the 4 ports from BASE taken?
    local p
    for ((p = $1; p < $1 + 4; p++)); do
        port_busy "$p" && return 0
    done
    return 1
}
if ports_busy "$BASE_PORT"; then
    if [[ -n $PORT_GIVEN ]]; then
        echo "server.sh: a UDP port in $BASE_PORT-$((BASE_PORT + 3)) is in use" >&2
        exit 2
    fi
    for ((tries = 0; tries < 50; tries++)); do
        BASE_PORT=$((BASE_PORT + 10))
        ports_busy "$BASE_PORT" || break
    done
fi
SERVER_PORT=$BASE_PORT         # the server under test
UAS_PORT=$((BASE_PORT + 1))    # SIPp callee
UAC_PORT=$((BASE_PORT + 2))    # SIPp load generator
REG_PORT=$((BASE_PORT + 3))    # SIPp registering the callee

CLK_TCK=$(getconf CLK_TCK)
# SIPp wants more open files than outstanding calls
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NCPU=$(nproc)
SERVER_PIN=()
CLIENT_PIN=()
PINNING="none (fewer than 2 cores or no taskset)"
if ((NCPU > WORKERS)) && command -v taskset >/dev/null; then
    SERVER_PIN=(taskset -c "$((NCPU - WORKERS))-$((NCPU - 1))")
    CLIENT_PIN=(taskset -c "0-$((NCPU - WORKERS - 1))")
    PINNING="server on CPU $((NCPU - WORKERS))-$((NCPU - 1)), SIPp on CPU 0-$((NCPU - WORKERS - 1))"
elif ((WORKERS > 1)); then
    PINNING="none ($WORKERS server workers on $NCPU cores: server and SIPp share them)"
fi
SIPP_SOCKETS=()
# SIPp needs max_socket plus the open calls under the open-file limit
((WORKERS > 1)) && SIPP_SOCKETS=(-t un -max_socket "$(($(ulimit -n) / 2))")

TMP=$(mktemp -d "${TMPDIR:-/tmp}/sipwire-bench.XXXXXX")
STARTED=()  # PIDs of the long-running processes this script started

stop_pid() {  # PID: TERM, up to 5 s, then KILL
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

forget_pid() {
    local pid=$1 p keep=()
    for p in "${STARTED[@]}"; do
        [[ $p == "$pid" ]] || keep+=("$p")
    done
    STARTED=("${keep[@]}")
}

cleanup() {
    local pid
    for pid in "${STARTED[@]}"; do
        stop_pid "$pid"
    done
    if ((KEEP)); then
        log "kept $TMP"
    else
        rm -rf "$TMP"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s\n' "$*" >&2; }

# utime+stime, in clock ticks, of PID and its direct children
cpu_ticks() {
    { cat /proc/[0-9]*/stat 2>/dev/null || true; } | awk -v p="$1" '
        { pid = $1; sub(/^[0-9]+ \(.*\) /, "") }
        pid == p || $2 == p { t += $12 + $13 }
        END { print t + 0 }'
}

# cutime+cstime of this shell: the CPU of every child it has reaped
reaped_ticks() {
    awk '{ sub(/^[0-9]+ \(.*\) /, ""); print $14 + $15 }' "/proc/$$/stat"
}

now() { date +%s.%N; }

# busy and idle clock ticks of the whole machine (all CPUs)
cpu_sample() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $5 + $6; exit }' /proc/stat; }

# Wait (up to 60 s) until other work uses under 10 % of one CPU, so that a
# step does not share the machine with someone else's job.
wait_quiet() {
    local i b0 b1 s0 s1 other
    for ((i = 0; i < 60; i++)); do
        s0=$(cpu_ticks "$SERVER_PID")
        read -r b0 _ < <(cpu_sample)
        sleep 1
        read -r b1 _ < <(cpu_sample)
        s1=$(cpu_ticks "$SERVER_PID")
        other=$(((b1 - b0) - (s1 - s0)))
        ((other * 100 < CLK_TCK * 10)) && return 0
        ((i == 0)) && log "  waiting for other work on the machine to finish ($((other * 100 / CLK_TCK)) % CPU)"
    done
    log "  the machine is still busy with other work: measuring anyway"
}

# datagrams the kernel dropped at the server's UDP socket (full receive buffer)
udp_drops() {
    ss -Huamn "sport = :$SERVER_PORT" 2>/dev/null |
        awk '{ if (match($0, /,d[0-9]+\)/)) d += substr($0, RSTART + 2, RLENGTH - 3) }
             END { print d + 0 }'
}

# Any reply to an OPTIONS means the server is up.
answers() {
    local rc=0
    timeout 3 sipsak -s "sip:127.0.0.1" -r "$1" >/dev/null 2>&1 || rc=$?
    ((rc == 0 || rc == 1))
}

SERVER_PID=
SERVER_LOG=

start_server() {  # KIND (sipwire | sqlite | kamailio)
    local kind=$1 i
    SERVER_LOG="$TMP/$kind.log"
    case $kind in
    sipwire | sqlite)
        local store="memory:"
        [[ $kind == sqlite || $WORKERS -gt 1 ]] && store="sqlite:///$TMP/sipwire.db"
        rm -f "$TMP/sipwire.db" "$TMP/sipwire.db-wal" "$TMP/sipwire.db-shm"
        (cd "$TMP" && exec "${SERVER_PIN[@]}" "$PY" -m sipwire.cli.main serve \
            --workers "$WORKERS" \
            --listen "udp:127.0.0.1:$SERVER_PORT" --domain "$DOMAIN" \
            --store "$store" --users "$TMP/users.db" --auth off --no-trace \
            --log-level warning --uvloop --max-requests-per-source 0) >>"$SERVER_LOG" 2>&1 &
        ;;
    kamailio)
        mkdir -p "$TMP/kamailio"
        (cd "$TMP" && exec "${SERVER_PIN[@]}" kamailio -f "$KAM_CFG" -DD -E \
            -Y "$TMP/kamailio" -P "$TMP/kamailio/kamailio.pid" -m 1024 -M 32 -n "$WORKERS" \
            -l "udp:127.0.0.1:$SERVER_PORT" --alias="$DOMAIN") >>"$SERVER_LOG" 2>&1 &
        ;;
    esac
    SERVER_PID=$!
    STARTED+=("$SERVER_PID")
    for ((i = 0; i < 50; i++)); do
        if ! kill -0 "$SERVER_PID" 2>/dev/null; then
            log "$kind exited on start:"
            tail -n 20 "$SERVER_LOG" >&2
            forget_pid "$SERVER_PID"
            SERVER_PID=
            return 1
        fi
        if answers "$SERVER_PORT"; then
            return 0
        fi
        sleep 0.2
    done
    log "$kind does not answer OPTIONS on udp:127.0.0.1:$SERVER_PORT"
    stop_server
    return 1
}

stop_server() {
    [[ -n $SERVER_PID ]] || return 0
    stop_pid "$SERVER_PID"
    forget_pid "$SERVER_PID"
    SERVER_PID=
}

UAS_PID=

start_uas() {
    (cd "$TMP" && exec "${CLIENT_PIN[@]}" sipp -sf "$SIPP_DIR/uas.xml" \
        -i 127.0.0.1 -p "$UAS_PORT" -nostdin -buff_size 4194304 \
        -trace_err -error_file "$TMP/uas-$1.err") >"$TMP/uas-$1.out" 2>&1 &
    UAS_PID=$!
    STARTED+=("$UAS_PID")
    sleep 0.5
    kill -0 "$UAS_PID" 2>/dev/null || { log "SIPp UAS did not start"; return 1; }
}

register_uas() {  # with the server just started
    local rc=0
    (cd "$TMP" && exec "${CLIENT_PIN[@]}" timeout 20 sipp "127.0.0.1:$SERVER_PORT" \
        -sf "$SIPP_DIR/register_uas.xml" -key domain "$DOMAIN" -key callee bob \
        -key contact "127.0.0.1:$UAS_PORT" -m 1 -i 127.0.0.1 -p "$REG_PORT" \
        -nostdin -timeout 10s -recv_timeout 5000) >"$TMP/register-uas-$1.out" 2>&1 || rc=$?
    if ((rc != 0)); then
        log "registering the UAS with $1 failed (SIPp exit $rc)"
        tail -n 5 "$TMP/register-uas-$1.out" >&2
        return 1
    fi
}

stop_uas() {
    [[ -n $UAS_PID ]] || return 0
    stop_pid "$UAS_PID"
    forget_pid "$UAS_PID"
    UAS_PID=
}

# Results, one line per step / per search, filled in as the run goes.
STEP_ROWS=()
SUMMARY=()    # "kind|load|best|failpct|scpu|cost|ccpu|firstfail"
NOTES=()
declare -A BEST=() COST=()

# run_step KIND LOAD RATE -> 0 when the step passed; sets STEP_* globals
run_step() {
    local kind=$1 load=$2 rate=$3
    local count=$((rate * STEP_SECS))
    local dir="$TMP/$kind-$load-$rate"
    mkdir -p "$dir"
    local scen args=()
    if [[ $load == REGISTER ]]; then
        scen="$SIPP_DIR/register_load.xml"
        args=(-key prefix "r${rate}u")
    else
        scen="$SIPP_DIR/uac.xml"
        args=(-key callee bob)
    fi
    local limit=$((count < 15000 ? count : 15000))
    local s0 r0 u0 d0 m0 t0 t1 rc=0
    wait_quiet
    d0=$(udp_drops)
    read -r m0 _ < <(cpu_sample)
    s0=$(cpu_ticks "$SERVER_PID")
    u0=0
    [[ -n $UAS_PID ]] && u0=$(cpu_ticks "$UAS_PID")
    r0=$(reaped_ticks)
    t0=$(now)
    (cd "$dir" && exec "${CLIENT_PIN[@]}" timeout $((STEP_SECS * 2 + 30)) \
        sipp "127.0.0.1:$SERVER_PORT" -sf "$scen" -key domain "$DOMAIN" "${args[@]}" \
        -i 127.0.0.1 -p "$UAC_PORT" "${SIPP_SOCKETS[@]}" -m "$count" -r "$rate" -rp 1000 \
        -l "$limit" \
        -nostdin -nd -buff_size 4194304 -timeout "$((STEP_SECS * 2 + 20))s" \
        -recv_timeout 5000 -trace_stat -stf "$dir/stat.csv" -fd 1 \
        -trace_err -error_file "$dir/errors.log") >"$dir/sipp.out" 2>&1 || rc=$?
    t1=$(now)
    local s1 r1 d1 m1 u1=0
    read -r m1 _ < <(cpu_sample)
    s1=$(cpu_ticks "$SERVER_PID")
    d1=$(udp_drops)
    r1=$(reaped_ticks)
    [[ -n $UAS_PID ]] && u1=$(cpu_ticks "$UAS_PID")

    # start end created successful failed retransmissions response-time(ms)
    # failure-kinds, from the last dump
    local stat="0 0 0 0 0 0 0 -"
    if [[ -s $dir/stat.csv ]]; then
        stat=$(awk -F';' '
            NR == 1 { for (i = 1; i <= NF; i++) h[$i] = i; next }
            { last = $0 }
            END {
                if (last == "") { print "0 0 0 0 0 0 0 -"; exit }
                split(last, v, ";")
                kinds = ""
                for (name in h)
                    if (name ~ /^Failed.+\(C\)$/ && name != "FailedCall(C)" && v[h[name]] + 0 > 0)
                        kinds = kinds (kinds == "" ? "" : ",") substr(name, 7, length(name) - 9) \
                                ":" v[h[name]]
                n = split(v[h["StartTime"]], s, /[ \t]+/)
                m = split(v[h["CurrentTime"]], c, /[ \t]+/)
                print s[n], c[m], v[h["TotalCallCreated"]], v[h["SuccessfulCall(C)"]] + 0,
                      v[h["FailedCall(C)"]] + 0, v[h["Retransmissions(C)"]] + 0,
                      ms(v[h["ResponseTime1(C)"]]), (kinds == "" ? "-" : kinds)
            }
            function ms(t, p) {  # HH:MM:SS:usec
                if (split(t, p, ":") != 4) return 0
                return ((p[1] * 60 + p[2]) * 60 + p[3]) * 1000 + p[4] / 1000
            }' "$dir/stat.csv")
    fi
    local result
    result=$(awk -v stat="$stat" -v count="$count" -v secs="$STEP_SECS" \
        -v t0="$t0" -v t1="$t1" -v ds="$((s1 - s0))" -v dc="$((r1 - r0 + u1 - u0))" \
        -v hz="$CLK_TCK" -v rc="$rc" -v drops="$((d1 - d0))" -v dm="$((m1 - m0))" 'BEGIN {
            split(stat, f, " ")
            elapsed = f[2] - f[1]; ok = f[4]; failed = count - ok; retrans = f[6]
            wall = t1 - t0
            if (wall <= 0) wall = 1
            pct = 100 * failed / count
            achieved = (elapsed > 0) ? ok / elapsed : 0
            scpu = sprintf("%.0f", 100 * ds / hz / wall)
            ccpu = sprintf("%.0f", 100 * dc / hz / wall)
            ocpu = 100 * (dm - ds - dc) / hz / wall
            ocpu = sprintf("%.0f", ocpu < 0 ? 0 : ocpu)
            cost = (ok > 0) ? sprintf("%.0f", 1e6 * ds / hz / ok) : "-"
            if (f[1] == 0) scpu = ccpu = ocpu = cost = "-"
            pass = (failed * 1000 < count && elapsed > 0 && elapsed <= secs * 1.05 + 0.25)
            if (pass) why = "pass"
            else if (f[1] == 0) why = "SIPp exit " rc ", no statistics"
            else if (failed * 1000 >= count)
                why = sprintf("%d failed%s", failed, f[8] == "-" ? "" : " (" f[8] ")")
            else why = sprintf("too slow: %.1f s for %d s of load", elapsed, secs)
            printf "%d|%d|%d|%.2f|%d|%d|%.0f|%.2f|%.0f|%s|%s|%s|%s|%s\n", pass, count,
                ok, pct, retrans, drops, f[7], elapsed, achieved, scpu, ccpu, ocpu, cost, why
        }')
    IFS='|' read -r STEP_PASS STEP_COUNT STEP_OK STEP_PCT STEP_RETRANS STEP_DROPS STEP_RTT \
        STEP_ELAPSED STEP_ACHIEVED STEP_SCPU STEP_CCPU STEP_OCPU STEP_COST STEP_WHY <<<"$result"
    if grep -qs 'Unable to bind' "$dir/sipp.out" "$dir/errors.log"; then
        STEP_WHY="SIPp could not bind 127.0.0.1:$UAC_PORT (another process has it)"
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
        STEP_PASS=0
        STEP_WHY="server died"
        NOTES+=("$kind died during $load at $rate/s; last lines of its log:")
        while IFS= read -r line; do NOTES+=("    $line"); done < <(tail -n 15 "$SERVER_LOG")
    fi
    if ((!STEP_PASS)) && [[ -s $dir/errors.log ]]; then
        NOTES+=("$kind $load at $rate/s, SIPp caller's errors (count, kind):")
        while IFS= read -r line; do NOTES+=("    $line"); done < <(error_summary "$dir/errors.log")
    elif ((!STEP_PASS)) && [[ ! -s $dir/stat.csv ]]; then
        NOTES+=("$kind $load at $rate/s: SIPp wrote no statistics; its output ends:")
        while IFS= read -r line; do NOTES+=("    $line"); done < <(tail -n 5 "$dir/sipp.out")
    fi
    STEP_ROWS+=("| $(label "$kind") | $load | $rate | $STEP_COUNT | $STEP_OK | $STEP_PCT | \
$STEP_RETRANS | $STEP_DROPS | $STEP_RTT | $STEP_ELAPSED | $STEP_ACHIEVED | $STEP_SCPU | $STEP_COST | $STEP_CCPU | $STEP_OCPU | $STEP_WHY |")
    log "  $kind $load $rate/s: $STEP_OK/$STEP_COUNT ok, $STEP_PCT % failed, \
$STEP_RETRANS retrans, $STEP_DROPS UDP drops, ${STEP_RTT} ms, ${STEP_ELAPSED}s, server CPU $STEP_SCPU %, SIPp CPU $STEP_CCPU %, other $STEP_OCPU % -> $STEP_WHY"
    ((STEP_PASS))
}

# The kinds of event in a SIPp error file, most frequent first: timestamps,
# Call-IDs and the quoted messages taken out.
error_summary() {
    local q="'"
    sed -E 's/([0-9]{4}-[0-9]{2}-[0-9]{2}[[:space:]]+[0-9:.]+[[:space:]]+[0-9.]+: )/\n\1/g' "$1" |
        grep -aE '^[0-9]{4}-[0-9]{2}-[0-9]{2}[[:space:]]' |
        sed -E "s/^[0-9-]+[[:space:]]+[0-9:.]+[[:space:]]+[0-9.]+: //;
                s/[0-9]+-[0-9]+@[0-9.]+/<call-id>/g; s/${q}<call-id>${q}/<call-id>/g;
                s/received ${q}(.*)\$/received: \\1/" |
        cut -c 1-200 | sort | uniq -c | sort -rn | head -n 6 || true
}

label() {
    case $1 in
    sipwire) if ((WORKERS > 1)); then echo "sipwire (uvloop, SQLite, $WORKERS workers)"
             else echo "sipwire (uvloop, memory:)"; fi ;;
    sqlite) echo "sipwire (uvloop, SQLite$( ((WORKERS > 1)) && echo ", $WORKERS workers"))" ;;
    kamailio) echo "Kamailio (children=$WORKERS)" ;;
    esac
}

# search KIND LOAD: step the rate until the first failure
search() {
    local kind=$1 load=$2 rate best=0 bpct="-" bscpu="-" bccpu="-" bcost="-" first="none (bound)"
    local fail=0 round mid
    log "$(label "$kind"): $load"
    if [[ $load == calls ]] && ! start_uas "$kind"; then
        stop_uas
        SUMMARY+=("$kind|$load|0|-|-|-|-|SIPp callee did not start")
        return
    fi
    for rate in "${RATES[@]}"; do
        if fresh_step "$kind" "$load" "$rate"; then
            best=$rate bpct=$STEP_PCT bscpu=$STEP_SCPU bccpu=$STEP_CCPU bcost=$STEP_COST
        else
            fail=$rate
            first="$rate/s: $STEP_WHY ($STEP_PCT % failed, server CPU $STEP_SCPU %)"
            break
        fi
    done
    # refine between the last passing and the first failing rate
    for ((round = 0; round < REFINE && best > 0 && fail > 0; round++)); do
        mid=$(awk -v a="$best" -v b="$fail" 'BEGIN {
            m = (a + b) / 2; e = 10 ^ int(log(m) / log(10) - 1); print int(m / e + 0.5) * e }')
        ((mid > best && mid < fail)) || break
        if fresh_step "$kind" "$load" "$mid"; then
            best=$mid bpct=$STEP_PCT bscpu=$STEP_SCPU bccpu=$STEP_CCPU bcost=$STEP_COST
        else
            fail=$mid
            first="$mid/s: $STEP_WHY ($STEP_PCT % failed, server CPU $STEP_SCPU %)"
        fi
    done
    check_logs "$kind" "$load"
    BEST["$kind/$load"]=$best
    COST["$kind/$load"]=$bcost
    SUMMARY+=("$kind|$load|$best|$bpct|$bscpu|$bcost|$bccpu|$first")
}

# check_logs KIND LOAD: the SIPp callee's errors and the server's error lines
# into NOTES; the callee is stopped and the server's log removed
check_logs() {
    local kind=$1 load=$2 line
    if [[ -n $UAS_PID && -s $TMP/uas-$kind.err ]]; then
        NOTES+=("$kind calls, SIPp callee's errors over all steps (count, kind):")
        while IFS= read -r line; do NOTES+=("    $line"); done < <(error_summary "$TMP/uas-$kind.err")
    fi
    stop_uas
    if grep -qsE 'Traceback|ERROR|CRITICAL' "$SERVER_LOG"; then
        NOTES+=("$kind log during $load has $(grep -cE 'Traceback|ERROR|CRITICAL' "$SERVER_LOG") \
error lines; first:")
        while IFS= read -r line; do NOTES+=("    $line"); done \
            < <(grep -m 5 -E -A 3 'Traceback|ERROR|CRITICAL' "$SERVER_LOG" | cut -c 1-300)
    fi
    rm -f "$SERVER_LOG"
}

median() {  # the median of the numbers given
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# fixed_rounds LOAD: --fixed's runs at the load's fixed rate, in rounds: each
# round runs every server once, one after the other, so that what drifts over
# the run (other guests of the host, caches, clock speed) touches the servers
# alike.  Per server the median CPU per request of the runs that passed; with
# sipwire and Kamailio both, Kamailio's over sipwire's in each round and the
# median of those ratios
fixed_rounds() {
    local load=$1 rate=${FIXED_RATE[$1]} kind i first
    local -A passed=() costs=() firsts=() round_cost=()
    local ratios=()
    for ((i = 1; i <= FIXED; i++)); do
        for kind in "${KINDS[@]}"; do
            [[ $kind == sqlite && $load == calls ]] && continue
            log "$(label "$kind"): $load at $rate/s, round $i of $FIXED"
            if [[ $load == calls ]] && ! start_uas "$kind"; then
                stop_uas
                firsts[$kind]=${firsts[$kind]:-"round $i: the SIPp callee did not start"}
                continue
            fi
            if fresh_step "$kind" "$load" "$rate"; then
                passed[$kind]=$((${passed[$kind]:-0} + 1))
                costs[$kind]+="$STEP_COST "
                round_cost[$kind/$i]=$STEP_COST
            else
                firsts[$kind]=${firsts[$kind]:-"round $i: $STEP_WHY ($STEP_PCT % failed)"}
            fi
            check_logs "$kind" "$load"
        done
        local s=${round_cost[sipwire/$i]:-} k=${round_cost[kamailio/$i]:-}
        if [[ -n $s && -n $k ]]; then
            ratios+=("$(awk -v s="$s" -v k="$k" 'BEGIN { printf "%.2f", k / s }')")
        fi
    done
    for kind in "${KINDS[@]}"; do
        [[ $kind == sqlite && $load == calls ]] && continue
        local n=${passed[$kind]:-0} med="-"
        # shellcheck disable=SC2086  # the costs are words
        ((n)) && med=$(median ${costs[$kind]})
        BEST["$kind/$load"]=$((n == FIXED ? rate : 0))
        COST["$kind/$load"]=$med
        first=${firsts[$kind]:-none}
        local runs=${costs[$kind]:-none}
        SUMMARY+=("$kind|$load|$rate ($n of $FIXED runs passed)|-|-|$med (runs: ${runs% })|-|$first")
    done
    if ((${#ratios[@]})); then
        ROUND_RATIOS[$load]="${ratios[*]} (median $(median "${ratios[@]}"))"
    fi
}

# fresh_step KIND LOAD RATE: one step on a server started for it (so no step
# inherits the bindings and transactions of the one before)
fresh_step() {
    local kind=$1 load=$2 rate=$3 ok=0
    STEP_PCT="-" STEP_SCPU="-" STEP_CCPU="-" STEP_COST="-"
    if ! start_server "$kind"; then
        STEP_WHY="server did not start"
        return 1
    fi
    if [[ $load == calls ]] && ! register_uas "$kind"; then
        STEP_WHY="registering the SIPp callee failed"
        stop_server
        return 1
    fi
    run_step "$kind" "$load" "$rate" && ok=1
    stop_server
    ((ok))
}

# ---------------------------------------------------------------- the run

sipwire_version=$("$PY" -c 'import sipwire; print(sipwire.__version__, "(" + sipwire.BUILD + ", " + sipwire.__file__.rsplit("/", 2)[0] + ")")' 2>/dev/null || echo "not importable")
if git -C "$ROOT" rev-parse --git-dir >/dev/null 2>&1; then
    sipwire_version+=" at $(git -C "$ROOT" rev-parse --short HEAD)"
    [[ -n $(git -C "$ROOT" status --porcelain -- src 2>/dev/null) ]] && sipwire_version+=" + uncommitted changes in src/"
fi
uvloop_version=$("$PY" -c 'import uvloop; print(uvloop.__version__)' 2>/dev/null || echo "not installed")
cpu_model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
kam_version=$(command -v kamailio >/dev/null && kamailio -v 2>/dev/null | awk 'NR == 1 { print $3 }' || echo "-")
sipp_version=$(sipp -v 2>/dev/null | awk '/SIPp v/ { sub(/\.$/, "", $2); print $2; exit }' || true)

log "temporary directory $TMP; ${#RATES[@]} rates, ${STEP_SECS} s per step; \
ports $SERVER_PORT-$REG_PORT"
# how busy the machine is with other work, over one second before the run
read -r busy0 idle0 < <(cpu_sample)
sleep 1
read -r busy1 idle1 < <(cpu_sample)
BUSY_START=$(((busy1 - busy0) * 100 / (busy1 - busy0 + idle1 - idle0 + 1)))
if ((BUSY_START > 10)); then
    log "warning: the CPUs are already $BUSY_START % busy with other work; results will be noisy"
fi

IFS=',' read -r -a KINDS <<<"$ONLY"
for kind in "${KINDS[@]}"; do
    case $kind in
    sipwire | kamailio | sqlite) ;;
    *) log "server.sh: unknown server $kind (sipwire, sqlite, kamailio)"; exit 2 ;;
    esac
done
declare -A ROUND_RATIOS=()
if ((FIXED)); then
    fixed_rounds REGISTER
    fixed_rounds calls
else
    for kind in "${KINDS[@]}"; do
        search "$kind" REGISTER
        [[ $kind == sqlite ]] || search "$kind" calls
    done
fi

ratio() {  # LOAD TARGET (issue 13: REGISTER 0.7, calls 0.6 of Kamailio's rate)
    local s=${BEST["sipwire/$1"]:-} k=${BEST["kamailio/$1"]:-}
    local sc=${COST["sipwire/$1"]:--} kc=${COST["kamailio/$1"]:--}
    if ((FIXED)); then  # the CPU per request at one rate (targets 0.6 and 0.5)
        local t=0.6
        [[ $1 == calls ]] && t=0.5
        if [[ $sc == - || $kc == - ]]; then
            echo "-"
        else
            awk -v sc="$sc" -v kc="$kc" -v t="$t" 'BEGIN {
                printf "CPU per request %.2f (target >= %s: %s)", kc / sc, t,
                    (kc >= t * sc) ? "met" : "not met" }'
            [[ -n ${ROUND_RATIOS[$1]:-} ]] && echo -n "; by round: ${ROUND_RATIOS[$1]}"
        fi
        return
    fi
    if [[ -z $s || -z $k || $k == 0 ]]; then
        echo "-"
        return
    fi
    awk -v s="$s" -v k="$k" -v t="$2" -v sc="$sc" -v kc="$kc" 'BEGIN {
        printf "rate %.2f (target >= %s: %s)", s / k, t, (s >= t * k) ? "met" : "not met"
        if (sc != "-" && kc != "-" && sc > 0) printf "; CPU per call %.2f", kc / sc }'
}

cat <<EOF
### Machine

- CPU: $cpu_model, $NCPU cores; pinning: $PINNING
- Linux $(uname -r); Python $("$PY" -c 'import platform; print(platform.python_version())'), uvloop $uvloop_version, sipwire $sipwire_version
- Kamailio $kam_version; SIPp $sipp_version
- Other work on the machine: CPUs $BUSY_START % busy in the second before the run
- $( ((FIXED)) && echo "Fixed rates: REGISTER ${FIXED_RATE[REGISTER]}/s, calls ${FIXED_RATE[calls]}/s, $FIXED runs each" || echo "Rates stepped: ${RATES[*]} /s"); ${STEP_SECS} s of load per step (-m RATE*${STEP_SECS} -r RATE -rp 1000); $( ((REFINE)) && echo "then $REFINE bisection steps; ")pass = under 0.1 % failed and done within 5 % (+0.25 s) of ${STEP_SECS} s

### Highest sustained rate

| Server | Load | Best rate (/s) | Failed at best | Server CPU at best | Server CPU µs per call | SIPp CPU at best | First failing step | sipwire / Kamailio |
|---|---|---:|---:|---:|---:|---:|---|---|
EOF
for row in "${SUMMARY[@]}"; do
    IFS='|' read -r kind load best pct scpu cost ccpu first <<<"$row"
    r=""
    if [[ $kind == sipwire ]]; then
        if [[ $load == REGISTER ]]; then r=$(ratio REGISTER 0.7); else r=$(ratio calls 0.6); fi
    fi
    [[ $pct != - ]] && pct="$pct %"
    [[ $scpu != - ]] && scpu="$scpu %"
    [[ $ccpu != - ]] && ccpu="$ccpu %"
    echo "| $(label "$kind") | $load | $best | $pct | $scpu | $cost | $ccpu | $first | $r |"
done

cat <<EOF

CPU % is CPU time over wall time during the step (100 % = one core busy);
Kamailio's includes all its processes.  "CPU µs per call" is the server's CPU
time over the calls (REGISTER transactions, or whole calls) completed in that
step; the "CPU per call" ratio is Kamailio's over sipwire's, a finer measure than
the stepped rates.  "SIPp CPU" is the load generator (and, for calls, the SIPp
callee too): near 100 % x the client cores it, not the server, is the limit.
In the step table, "Retrans" counts SIPp's retransmissions, "UDP drops" the
datagrams the kernel dropped at the server's socket during the step (receive
buffer full), "Other CPU" what the rest of the machine used (should be near 0;
each step first waits up to 60 s for other work to stop), "Resp. ms" SIPp's
mean time from the first request to the 200 (REGISTER) or to the INVITE's 200
(calls).

### Every step

| Server | Load | Rate (/s) | Calls | OK | Failed % | Retrans | UDP drops | Resp. ms | Elapsed (s) | Achieved (/s) | Server CPU % | Server CPU µs per call | SIPp CPU % | Other CPU % | Result |
|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|
EOF
printf '%s\n' "${STEP_ROWS[@]}"

if ((${#NOTES[@]})); then
    printf '\n### Errors seen\n\n```\n'
    printf '%s\n' "${NOTES[@]}"
    printf '```\n'
fi
