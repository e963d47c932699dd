#!/usr/bin/env bash
# Soak (a): mixed load at 64 connections for a long time, with RSS sampled throughout.
#
#   tests/soak/mixed_load.sh [--duration SECONDS] [--conns N] [--segment SECONDS]
#                            [--sample SECONDS] [--build DIR]
#
# Starts two inngest-host processes on loopback: a dev-mode one, loaded with a mix of
# introspection, discovery (206) and memoized (200) requests, and a cloud-mode one, loaded
# with signed memoized requests and introspection. wrk drives 3/4 of the connections at the
# first and 1/4 at the second, in segments of --segment seconds (default 120) because a
# signature is valid for 300 s: bench_mkreq signs afresh before each segment. Requests are
# the ones tests/bench/bench_mkreq writes. RSS of both hosts is sampled every --sample
# seconds (default 5).
#
# Prints, per segment and in total: requests, req/s, p50/p99, socket errors, answers by
# status; whether each host is still alive; RSS first/last/max. Exit status 1 when a host
# died, any request failed or any answer was not 200/206. Defaults: 600 s, 64 connections.
. "$(dirname "$0")/lib.sh"
duration=600 conns=64 segment=120 sample=5 build=$soak_src/build-soak
while [ $# -gt 0 ]; do
  case $1 in
    --duration) duration=$2; shift 2 ;;
    --conns) conns=$2; shift 2 ;;
    --segment) segment=$2; shift 2 ;;
    --sample) sample=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    -h|--help) sed -n 2,19p "$0"; exit 0 ;;
    *) echo "mixed_load.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
command -v wrk >/dev/null || { echo "mixed_load.sh: wrk is missing (apt-get install wrk)" >&2; exit 1; }
soak_build "$build"
host=$build/src/host/inngest-host
mkreq=$build/tests/bench/bench_mkreq
key=signkey-test-8ee2262a15e8d3c42d6a840db7af3de2aab08ef632b32a37a687f24b34dba3ff
reqs=$soak_work/reqs
mkdir -p "$reqs"

port_dev=$(free_port) port_cloud=$(free_port)
start_bg "$soak_work/dev.log" env INNGEST_DEV=1 INNGEST_LOG_LEVEL=warn "$host" --port "$port_dev"
dev_pid=$bg_pid
start_bg "$soak_work/cloud.log" env -u INNGEST_DEV INNGEST_SIGNING_KEY=$key INNGEST_LOG_LEVEL=warn "$host" --port "$port_cloud"
cloud_pid=$bg_pid
wait_http "http://127.0.0.1:$port_dev/healthz" "$dev_pid" || { cat "$soak_work/dev.log"; exit 1; }
wait_http "http://127.0.0.1:$port_cloud/healthz" "$cloud_pid" || { cat "$soak_work/cloud.log"; exit 1; }

# mix.lua: loads bench_mkreq's per-scenario scripts, keeps each request, and sends them in
# the weighted order MIX names (a comma list of scenario:weight). Counts answers by status
# per thread; done() prints one line.
cat >"$soak_work/mix.lua" <<'LUA'
local dir = os.getenv("SOAK_REQS")
local reqs = {}
for item in string.gmatch(os.getenv("SOAK_MIX"), "[^,]+") do
  local name, weight = string.match(item, "([^:]+):(%d+)")
  wrk.headers = {}
  wrk.body = nil
  dofile(dir .. "/" .. name .. ".lua")
  local r = wrk.format(wrk.method, wrk.path, wrk.headers, wrk.body)
  for _ = 1, tonumber(weight) do reqs[#reqs + 1] = r end
end
local i = 0
counts = {} -- global: done() reads it through thread:get
request = function()
  i = i % #reqs + 1
  return reqs[i]
end
response = function(status)
  counts[status] = (counts[status] or 0) + 1
end
local threads = {}
setup = function(t) threads[#threads + 1] = t end
done = function(summary, latency)
  local all = {}
  for _, t in ipairs(threads) do
    local c = t:get("counts")
    for s, n in pairs(c) do all[s] = (all[s] or 0) + n end
  end
  local by = ""
  for s, n in pairs(all) do by = by .. string.format(" s%d=%d", s, n) end
  local e = summary.errors
  io.write(string.format("SOAK requests=%d duration_us=%d p50_us=%d p99_us=%d max_us=%d " ..
    "err_socket=%d%s\n", summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(99), latency.max, e.connect + e.read + e.write + e.timeout, by))
end
LUA

rss_log=$soak_work/rss
: >"$rss_log"
(
  while :; do
    echo "$(date +%s) $(rss_kib "$dev_pid") $(rss_kib "$cloud_pid")" >>"$rss_log"
    sleep "$sample"
  done
) &
soak_pids+=("$!")

c_dev=$((conns * 3 / 4)) c_cloud=$((conns - conns * 3 / 4))
echo "== $(soak_machine)"
echo "== ${duration}s at $conns connections ($c_dev dev mix, $c_cloud cloud mix), segments of ${segment}s"
results=$soak_work/results
: >"$results"
left=$duration seg=0 dead=""
while [ "$left" -gt 0 ]; do
  d=$((left < segment ? left : segment))
  seg=$((seg + 1))
  "$mkreq" --out "$reqs" --app-id inngest-c-ai-chat --key "$key" >/dev/null
  SOAK_REQS=$reqs SOAK_MIX=introspect:1,discovery:1,memoized:2 \
    wrk -t2 -c"$c_dev" -d"${d}s" --timeout 10s -s "$soak_work/mix.lua" "http://127.0.0.1:$port_dev" \
    >"$soak_work/wrk-dev" 2>&1 &
  w1=$!
  SOAK_REQS=$reqs SOAK_MIX=signed:3,introspect:1 \
    wrk -t1 -c"$c_cloud" -d"${d}s" --timeout 10s -s "$soak_work/mix.lua" "http://127.0.0.1:$port_cloud" \
    >"$soak_work/wrk-cloud" 2>&1 &
  w2=$!
  wait "$w1" || true
  wait "$w2" || true
  for side in dev cloud; do
    line=$(grep '^SOAK' "$soak_work/wrk-$side" || echo "SOAK requests=0 duration_us=1 p50_us=0 p99_us=0 max_us=0 err_socket=-1")
    echo "$seg $side $line" >>"$results"
    echo "$line" | awk -v seg="$seg" -v side="$side" '{
      for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
      st = ""; for (k in v) if (k ~ /^s[0-9]+$/) st = st " " substr(k, 2) ":" v[k]
      printf "   segment %d %-5s %9d req  %7.0f req/s  p50 %6.2f ms  p99 %7.2f ms  max %7.1f ms  socket errors %d  statuses%s\n",
        seg, side, v["requests"], v["requests"] / (v["duration_us"] / 1e6), v["p50_us"] / 1000,
        v["p99_us"] / 1000, v["max_us"] / 1000, v["err_socket"], st }'
  done
  printf '   segment %d RSS MiB: dev %.1f, cloud %.1f\n' "$seg" \
    "$(awk -v k="$(rss_kib "$dev_pid")" 'BEGIN{print k/1024}')" \
    "$(awk -v k="$(rss_kib "$cloud_pid")" 'BEGIN{print k/1024}')"
  kill -0 "$dev_pid" 2>/dev/null || dead="$dead dev"
  kill -0 "$cloud_pid" 2>/dev/null || dead="$dead cloud"
  [ -n "$dead" ] && break
  left=$((left - d))
done

echo
echo "== summary"
fail=0
awk '{ side = $2
       for (i = 4; i <= NF; i++) { split($i, kv, "="); if (kv[1] ~ /^s[0-9]+$/ || kv[1] == "requests" || kv[1] == "err_socket") t[side, kv[1]] += kv[2]; if (kv[1] ~ /^s[0-9]+$/) keys[kv[1]] = 1 }
       sides[side] = 1 }
     END { for (s in sides) {
             bad = 0; st = ""
             for (k in keys) if ((s, k) in t) { st = st " " substr(k, 2) ":" t[s, k]; if (k != "s200" && k != "s206") bad += t[s, k] }
             printf "   %-5s requests %d  socket errors %d  unexpected statuses %d  (statuses%s)\n", s, t[s, "requests"], t[s, "err_socket"], bad, st
             if (t[s, "err_socket"] != 0 || bad != 0) exit_bad = 1 }
           exit exit_bad }' "$results" || fail=1
if [ -n "$dead" ]; then
  echo "   CRASH: host(s) died:$dead"; fail=1
  tail -n 20 "$soak_work/dev.log" "$soak_work/cloud.log"
else
  echo "   both hosts alive after ${duration}s"
fi
awk -v dev="$dev_pid" -v cloud="$cloud_pid" 'NF == 3 && $2 > 0 {
    if (!n++) { f2 = $2; f3 = $3 } l2 = $2; l3 = $3
    if ($2 > m2) m2 = $2; if ($3 > m3) m3 = $3 }
  END { printf "   RSS MiB (%d samples)  dev: first %.1f last %.1f max %.1f   cloud: first %.1f last %.1f max %.1f\n",
          n, f2 / 1024, l2 / 1024, m2 / 1024, f3 / 1024, l3 / 1024, m3 / 1024 }' "$rss_log"
echo "   peak RSS (VmHWM) MiB  dev $(awk -v k="$(hwm_kib "$dev_pid")" 'BEGIN{printf "%.1f", k/1024}')  cloud $(awk -v k="$(hwm_kib "$cloud_pid")" 'BEGIN{printf "%.1f", k/1024}')"
exit $fail
