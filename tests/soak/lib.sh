# Shared helpers for the soak and fault scripts in tests/soak/ (sourced, not run).
# Every server a script starts goes through start_bg, and the EXIT trap stops exactly
# those processes (by pid), so nothing outlives a script.
set -euo pipefail
soak_src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
soak_pids=()
soak_work=$(mktemp -d)
soak_cleanup() {
  local p
  for p in "${soak_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${soak_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -n "${SOAK_KEEP:-}" ] && echo "kept $soak_work" || rm -rf "$soak_work"
}
trap soak_cleanup EXIT

# soak_build DIR [CMAKE ARGS...]: configures and builds the host and bench tools in DIR.
soak_build() {
  local dir=$1; shift
  echo "== building ($dir)"
  cmake -S "$soak_src" -B "$dir" -DINNGEST_BENCH=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$dir" -j"$(nproc)" --target inngest-host bench_all >/dev/null
}

# start_bg LOG CMD...: starts CMD in the background with output in LOG, in a directory of
# its own under the work dir (the host keeps its RAG store in ./data); sets $bg_pid.
start_bg() {
  local log=$1; shift
  local dir=${log%.log}.d
  mkdir -p "$dir"
  (cd "$dir" && exec "$@") >"$log" 2>&1 &
  bg_pid=$!
  soak_pids+=("$bg_pid")
}

# wait_http URL [PID]: waits up to 10 s for URL to answer (any status).
wait_http() {
  local url=$1 pid=${2:-}
  for _ in $(seq 1 200); do
    curl -s -o /dev/null --max-time 1 "$url" && return 0
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    sleep 0.05
  done
  return 1
}

# stop_pid PID: SIGTERM and wait.
stop_pid() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

rss_kib() { awk '/^VmRSS/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
hwm_kib() { awk '/^VmHWM/ {print $2}' "/proc/$1/status" 2>/dev/null || echo 0; }
now_ms() { date +%s%3N; }

# A free loopback port (asks the kernel; a tiny race is acceptable for a test script).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

soak_machine() {
  echo "$(nproc) cores, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), $(uname -r), $(date -u +%Y-%m-%dT%H:%MZ)"
}
