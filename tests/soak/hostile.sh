#!/usr/bin/env bash
# Fault (c): hostile clients against one dev-mode host on loopback, while a normal client
# (a fresh connection per request, one GET /api/inngest every 100 ms, 5 s timeout) measures
# how quickly it is still answered.
#
#   tests/soak/hostile.sh [--seconds S] [--slow N] [--idle N] [--phases LIST] [--build DIR]
#
# Phases: oversized bodies (a 20 MiB POST and a 1 GiB Content-Length: both must get 413
# quickly); the probe alone (baseline); N slowloris connections (default 200) sending
# request headers a byte a second and never finishing; N idle connections (default 3000)
# that connect and send nothing. Each attack lasts S seconds (default 30); --phases picks
# some of baseline,slowloris,idle. Prints status and time for the big bodies, and per
# phase: probes answered / failed, how long until the first answer, p50 / p99 / max ms,
# attackers still connected at the end. Then checks the host is alive and answers.
. "$(dirname "$0")/lib.sh"
seconds=30 slow=200 idle=3000 phases=baseline,slowloris,idle build=$soak_src/build-soak
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --slow) slow=$2; shift 2 ;;
    --idle) idle=$2; shift 2 ;;
    --phases) phases=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    -h|--help) sed -n 2,14p "$0"; exit 0 ;;
    *) echo "hostile.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
ulimit -n $((idle + 1000)) 2>/dev/null || true
soak_build "$build"
host=$build/src/host/inngest-host
port=$(free_port)
start_bg "$soak_work/host.log" env INNGEST_DEV=1 INNGEST_LOG_LEVEL=warn "$host" --port "$port"
host_pid=$bg_pid
wait_http "http://127.0.0.1:$port/healthz" "$host_pid" || { cat "$soak_work/host.log"; exit 1; }
echo "== $(soak_machine)"
fail=0

echo "== oversized bodies (limit 16 MiB)"
head -c $((20 << 20)) /dev/zero >"$soak_work/big"
for what in "20 MiB body" "1 GiB Content-Length, 5 bytes sent"; do
  t0=$(now_ms)
  if [ "$what" = "20 MiB body" ]; then
    code=$(curl -s -o "$soak_work/answer" -w '%{http_code}' --max-time 60 -H 'Content-Type: application/json' \
           --data-binary "@$soak_work/big" "http://127.0.0.1:$port/api/inngest?fnId=x&stepId=step" || true)
  else
    code=$(curl -s -o "$soak_work/answer" -w '%{http_code}' --max-time 60 -H 'Content-Type: application/json' \
           -H 'Content-Length: 1073741824' --data-binary 'hello' "http://127.0.0.1:$port/api/inngest?fnId=x&stepId=step" || true)
  fi
  t1=$(now_ms)
  printf '   %-36s status %s in %5d ms: %s\n' "$what" "$code" "$((t1 - t0))" "$(head -c 100 "$soak_work/answer")"
  [ "$code" = 413 ] || fail=1
done

run_phase() { # MODE CONNS
  local line
  line=$(node "$soak_src/tests/soak/hostile.js" "$port" "$1" "$seconds" "$2")
  echo "$line" | node -e '
    const r = JSON.parse(require("fs").readFileSync(0, "utf8"));
    const f = (x) => (x === null ? "-" : x.toFixed(1));
    console.log(`   ${r.mode.padEnd(9)} ${String(r.conns).padStart(5)} attackers (${r.attackers_connected} connected, ` +
      `${r.attackers_open_at_end} still open at the end)  probes ok ${r.probes_ok} failed ${r.probes_failed}  ` +
      `first answer after ${r.first_ok_after_ms === null ? "never" : r.first_ok_after_ms + " ms"}  ` +
      `p50 ${f(r.p50_ms)} ms  p99 ${f(r.p99_ms)} ms  max ${f(r.max_ms)} ms`);'
  echo "$line" >>"$soak_work/phases"
}
echo "== the normal client, ${seconds}s per phase"
for ph in ${phases//,/ }; do
  case $ph in
    baseline) run_phase baseline 0 ;;
    slowloris) run_phase slowloris "$slow" ;;
    idle) run_phase idle "$idle" ;;
    *) echo "hostile.sh: unknown phase $ph" >&2; exit 2 ;;
  esac
done
sleep 1
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$port/api/inngest" || true)
if kill -0 "$host_pid" 2>/dev/null && [ "$code" = 200 ]; then
  echo "== host alive and answering after the attacks (RSS $(awk -v k="$(rss_kib "$host_pid")" 'BEGIN{printf "%.1f", k/1024}') MiB)"
else
  echo "== host not answering after the attacks (status $code)"; fail=1
fi
exit $fail
