#!/usr/bin/env bash
# Install sipwire with its test dependencies into .venv (made if missing) and
# run the whole test suite, ruff and mypy --strict.  Used by README and CI.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip >/dev/null
.venv/bin/python -m pip install --quiet -e ".[test]"
if [ -x scripts/services.sh ]; then
  # shellcheck source=/dev/null
  . scripts/services.sh
fi
echo "== ruff"
.venv/bin/ruff check src tests benchmarks
echo "== mypy --strict src"
.venv/bin/mypy --strict src
echo "== pytest"
status=0
.venv/bin/python -m pytest "$@" || status=$?
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: failing" >&2
  exit 1
fi
exit "$status"
