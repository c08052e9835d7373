#!/usr/bin/env bash
# tests/integration/h2/run.sh — lb's HTTP/2 integration suite (python3 + h2).
#
#   LB_BIN=build/lb BACKEND_BIN=build/backend tests/integration/h2/run.sh [FILE...] [-- FILTER...]
#
# Runs every *_test.py here (or the FILEs given, e.g. abuse_test.py), each in
# its own python process, against the real lb binary; exits non-zero if any
# case failed. FILTERs after `--` select cases whose id contains them, e.g.
#   tests/integration/h2/run.sh conformance_connection_test.py -- Settings test_ping
# `make integration` (so `make test`, `make test SANITIZE=1`, `make test TSAN=1`)
# runs it after the C++ integration tests.
#
# Environment (see h2_env.py): LB_BIN, BACKEND_BIN (defaults build/lb,
# build/backend); LB_TEST_SLOW=1 or LB_TEST_SCALE=N stretch the timeouts
# (automatic for build-san/ and build-tsan/ binaries); H2_REFERENCE=haproxy
# runs the files against haproxy instead (lb-only cases skip); IT_KEEP_TMP=1
# keeps configs and logs; H2_VERBOSE=1 prints lb's stderr after every case;
# H2_PYTHON picks the interpreter (default: the first of /usr/bin/python3,
# python3 that imports h2 — a pyenv python3 earlier in PATH usually does not).
set -u
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"

abs() { case "$1" in /*) echo "$1" ;; *) echo "$PWD/$1" ;; esac; }
export LB_BIN="$(abs "${LB_BIN:-$root/build/lb}")"
export BACKEND_BIN="$(abs "${BACKEND_BIN:-$root/build/backend}")"

py=""
for cand in ${H2_PYTHON:-} /usr/bin/python3 python3; do
  if "$cand" -c 'import h2.connection, hpack, hyperframe' 2>/dev/null; then py="$cand"; break; fi
done
if [ -z "$py" ]; then
  echo "h2 suite: no python3 with the h2 package (apt-get install python3-h2, or make deps)" >&2
  exit 1
fi
if [ -z "${H2_REFERENCE:-}" ] && [ ! -x "$LB_BIN" ]; then
  echo "h2 suite: LB_BIN=$LB_BIN is not an executable (run make first)" >&2
  exit 1
fi

files=() filters=()
while [ $# -gt 0 ]; do
  case "$1" in
    --) shift; filters=("$@"); break ;;
    *) files+=("$1"); shift ;;
  esac
done
if [ ${#files[@]} -eq 0 ]; then
  # Protocol first, then abuse and interop (the slowest), then any other file.
  for f in conformance_connection_test.py conformance_streams_test.py smuggling_test.py trailers_test.py \
           websocket_test.py abuse_test.py interop_test.py "$here"/*_test.py; do
    f="$(basename "$f")"
    [ -f "$here/$f" ] && [[ " ${files[*]} " != *" $f "* ]] && files+=("$f")
  done
fi

passed=0 failed=0 skipped=0 status=0 t0=$SECONDS
for f in "${files[@]}"; do
  f="$(basename "$f")"
  if [ ! -f "$here/$f" ]; then echo "h2 suite: no file $here/$f" >&2; status=1; continue; fi
  log="$(mktemp)"
  (cd "$here" && "$py" -u "$f" "${filters[@]}") 2>&1 | tee "$log"
  rc=${PIPESTATUS[0]}
  line="$(grep -E '^[a-z_]+\.py: [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$log" | tail -1)"
  rm -f "$log"
  if [ -z "$line" ]; then
    echo "h2 suite: $f ended without its summary line (exit status $rc)"
    failed=$((failed + 1)); status=1; continue
  fi
  read -r p fl s <<<"$(echo "$line" | sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped/\1 \2 \3/')"
  passed=$((passed + p)) failed=$((failed + fl)) skipped=$((skipped + s))
  [ "$rc" -eq 0 ] || status=1
done
echo "h2 suite: $((SECONDS - t0)) s (LB_BIN=$LB_BIN)"
echo "h2: $passed passed, $failed failed, $skipped skipped"
exit $status
