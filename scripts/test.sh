#!/usr/bin/env bash
# Install sipwire with its test dependencies and run ruff, mypy --strict and
# the test suite on both builds.  Used by README and CI.
#
# Two builds of the same .py files (see setup.py):
# * pure: .venv, an editable install (`pip install -e .[test]`).  An editable
#   install never compiles, so the .py files being edited are what runs: no
#   extension module built from an older version can shadow them.
# * compiled: .venv-compiled, a regular install (`pip install .[test]`) that
#   compiles the hot modules with Cython; it is built while ruff, mypy and the
#   pure suite run, and its suite runs beside the pure one.  The tests are the
#   checkout's tests/ but `sipwire` is imported from the install (tests that
#   start `sipwire` subprocesses give them the same build), and
#   tests/test_build.py fails unless the extension modules were loaded.
#   The interop tests against outside programs (SIPp scenarios, baresip,
#   Kamailio, SIPVicious, tshark) run in the pure build only: they are the
#   slowest and exercise the same code through the same processes.  In the
#   pure build they run in a second pytest, with the command-line tests
#   (tests/cli, which start sipwire processes), beside the rest of the pure
#   suite and the compiled one: the interop tests mostly wait on those
#   programs and their timers, and one pure pytest for everything was the
#   longest of the runs.
#
# SIPWIRE_BUILDS="pure" (or "compiled") runs one build only; arguments go to
# pytest (both builds, and then the pure build runs all it is given in one
# pytest).  Each suite's output is printed when it ends.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
BUILDS=${SIPWIRE_BUILDS:-pure compiled}
want() { case " $BUILDS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip >/dev/null
.venv/bin/python -m pip install --quiet -e ".[test]"
if [ -x scripts/services.sh ]; then
  # shellcheck source=/dev/null
  . scripts/services.sh
fi

LOGS=$(mktemp -d)
build_pid=
if want compiled; then
  echo "== building the compiled install in .venv-compiled (log: $LOGS/build.log)"
  (
    [ -x .venv-compiled/bin/python ] || "$PY" -m venv .venv-compiled
    .venv-compiled/bin/python -m pip install --quiet --upgrade pip
    # a regular install (pip rebuilds a local directory each time): compiled,
    # and not shadowed by src/, which is not on its path
    .venv-compiled/bin/python -m pip install --quiet ".[test]"
  ) >"$LOGS/build.log" 2>&1 &
  build_pid=$!
fi

echo "== ruff"
.venv/bin/ruff check src tests benchmarks setup.py
echo "== mypy --strict src"
.venv/bin/mypy --strict src

# pytest's exit 5 (no test collected) is a failure
run_suite() {  # NAME PYTHON EXPECT_COMPILED [pytest args...]
  local name=$1 python=$2 expect=$3
  shift 3
  local status=0
  SIPWIRE_EXPECT_COMPILED=$expect "$python" -m pytest -p no:cacheprovider "$@" \
    >"$LOGS/$name.log" 2>&1 || status=$?
  if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: failing" >>"$LOGS/$name.log"
    status=1
  fi
  return "$status"
}

INTEROP=(tests/sipp tests/dialog_sipp tests/dialog/test_prack_sipp.py
  tests/dialog/test_refer_sipp.py tests/dialog/test_subscription_sipp.py
  tests/server/test_baresip.py tests/server/test_calls_matrix.py
  tests/server/test_svcrack.py tests/server/test_enumeration_sip.py tests/ua/interop
  tests/ua/test_messaging_baresip.py tests/ua/test_subscriber_sipp.py
  tests/ladder/test_tshark_capture.py)
IGNORE=()
PRESENT=()
for path in "${INTEROP[@]}"; do
  if [ -e "$path" ]; then
    IGNORE+=("--ignore=$path")
    PRESENT+=("$path")
  fi
done

# the pure build's second pytest: the interop tests and the command-line ones
SECOND=("${PRESENT[@]}")
SECOND_IGNORE=("${IGNORE[@]}")
if [ -e tests/cli ]; then
  SECOND+=(tests/cli)
  SECOND_IGNORE+=(--ignore=tests/cli)
fi

pure_pid=
interop_pid=
if want pure; then
  if [ "$#" -eq 0 ] && [ "${#SECOND[@]}" -gt 0 ]; then
    echo "== pytest (pure Python: .venv, editable; the interop and command-line tests in a second pytest)"
    run_suite pure .venv/bin/python 0 "${SECOND_IGNORE[@]}" &
    pure_pid=$!
    run_suite interop .venv/bin/python 0 "${SECOND[@]}" &
    interop_pid=$!
  else
    echo "== pytest (pure Python: .venv, editable)"
    run_suite pure .venv/bin/python 0 "$@" &
    pure_pid=$!
  fi
fi
status=0
compiled_status=0
if [ -n "$build_pid" ]; then
  if wait "$build_pid"; then
    .venv-compiled/bin/sipwire --version
    echo "== pytest (compiled: .venv-compiled; interop tests in the pure run only)"
    run_suite compiled .venv-compiled/bin/python 1 "${IGNORE[@]}" "$@" || compiled_status=$?
  else
    cat "$LOGS/build.log"
    echo "building the compiled install failed" >&2
    compiled_status=1
  fi
fi
if [ -n "$pure_pid" ]; then
  wait "$pure_pid" || status=$?
  echo "== pure Python suite"
  cat "$LOGS/pure.log"
fi
if [ -n "$interop_pid" ]; then
  interop_status=0
  wait "$interop_pid" || interop_status=$?
  echo "== interop and command-line suite (pure Python)"
  cat "$LOGS/interop.log"
  [ "$status" -ne 0 ] || status=$interop_status
fi
if [ -n "$build_pid" ] && [ -f "$LOGS/compiled.log" ]; then
  echo "== compiled suite"
  cat "$LOGS/compiled.log"
fi
rm -rf "$LOGS"
[ "$status" -eq 0 ] || exit "$status"
exit "$compiled_status"
