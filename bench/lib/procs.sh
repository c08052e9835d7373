# bench/lib/procs.sh — process handling for bench/bench.sh (sourced, not run):
# /proc/PID/stat reading, start-up waits, stopping a process by pid, free
# ports, and the CPU time and RSS of a process and its children.
# Uses from the caller: STARTUP_DEADLINE_S.
# shellcheck shell=bash disable=SC2034,SC2154  # variables shared with bench/bench.sh

# Sets STAT to the /proc/PID/stat fields after "(comm)": state ppid ...
# (pure bash, no subshell: this runs often).
STAT=""
read_stat() {
  local line
  STAT=""
  { read -r line <"/proc/$1/stat"; } 2>/dev/null || return 1
  STAT=${line##*) }
}

alive() {
  read_stat "$1" || return 1
  [[ -n $STAT && ${STAT:0:1} != Z ]]
}

# Stops pid $1: SIGTERM, then SIGKILL after $2 seconds.
stop() {
  local pid=$1 grace_s=${2:-5} i
  [[ -n $pid ]] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace_s * 20; i++)); do
    alive "$pid" || break
    sleep 0.05
  done
  if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
  wait "$pid" 2>/dev/null || true
}

# Runs "$@" until it succeeds; fails when pid $1 dies or the deadline passes.
wait_for() {
  local pid=$1 what=$2 deadline=$((SECONDS + STARTUP_DEADLINE_S))
  shift 2
  until "$@"; do
    alive "$pid" || { echo "bench: $what exited during start-up" >&2; return 1; }
    ((SECONDS < deadline)) || { echo "bench: $what not ready after ${STARTUP_DEADLINE_S}s" >&2; return 1; }
    sleep 0.05
  done
}

# Starts $BACKEND with one HTTP port (output in $1/backend.out); sets
# BACKEND_PID and BACKEND_PORT.
start_http_backend() {
  "$BACKEND" --http 0 >"$1/backend.out" 2>&1 &
  BACKEND_PID=$!
  wait_for "$BACKEND_PID" backend file_has_line "$1/backend.out" ready
  BACKEND_PORT=$(awk '/^listening http/ { print $3 }' "$1/backend.out")
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
file_has_line() { grep -qx "$2" "$1" 2>/dev/null; }

# --- free ports ----------------------------------------------------------------
declare -A taken=()
listening_ports() {
  # local ports of sockets in LISTEN state (0A), decimal
  cat /proc/net/tcp /proc/net/tcp6 2>/dev/null |
    awk 'NR > 1 && $4 == "0A" { split($2, a, ":"); print a[2] }' |
    while read -r hex; do echo $((16#$hex)); done
}
for p in $(listening_ports); do taken[$p]=1; done
pick_port() {
  local p
  while :; do
    p=$((20000 + RANDOM % 12768))
    [[ -z ${taken[$p]:-} ]] && ! port_open "$p" && break
  done
  taken[$p]=1
  echo "$p"
}

# --- resource use of a process tree -------------------------------------------
# Sum of VmRSS (kB) over pid $1 and its child processes (nginx workers).
rss_kb() {
  local root=$1 total=0 p f key val _
  local procs=("$root")
  for p in /proc/[0-9]*; do
    read_stat "${p#/proc/}" || continue
    read -r _ f _ <<<"$STAT"
    [[ $f == "$root" ]] && procs+=("${p#/proc/}")
  done
  for p in "${procs[@]}"; do
    while read -r key val _; do
      [[ $key == VmRSS: ]] && total=$((total + val))
    done 2>/dev/null <"/proc/$p/status" || true
  done
  echo "$total"
}

# utime + stime (clock ticks) of pid $1 and its child processes, all threads.
cpu_ticks() {
  local root=$1 total=0 p f ppid
  local -a a
  for p in /proc/[0-9]*; do
    read_stat "${p#/proc/}" || continue
    read -r -a a <<<"$STAT"
    ppid=${a[1]}
    # after "(comm)": [0]=state [1]=ppid ... [11]=utime [12]=stime
    if [[ ${p#/proc/} == "$root" || $ppid == "$root" ]]; then
      total=$((total + a[11] + a[12]))
    fi
  done
  echo "$total"
}
CLK_TCK=$(getconf CLK_TCK)
