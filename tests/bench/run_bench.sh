#!/usr/bin/env bash
# Benchmark: the same request mix against inngest-host, the official JS SDK and a bare
# civetweb handler (the floor), with wrk at 1 and 32 connections. Not part of CI.
#
#   tests/bench/run_bench.sh [options]
#     --build DIR       build tree to use (default build-bench; configured and built here)
#     --duration S      seconds per wrk run (default 10; the 1000-step replay gets 3×)
#     --repeat N        wrk runs per measurement; the one with the median req/s is kept
#                       (default 1)
#     --js-cmd CMD      command that starts the JS app; it must honour PORT, INNGEST_DEV
#                       and INNGEST_SIGNING_KEY (default: node tests/bench/js/app.mjs, with
#                       its npm packages installed on first use)
#     --js-app-id ID    the JS app's id, for fnId (default inngest-c-ai-chat)
#     --no-js           skip the JS SDK
#     --only LIST       comma-separated scenarios (introspect,discovery,memoized,many100,
#                       many1000,signed)
#     --out FILE        also write the markdown table to FILE
#
# Prints, per target, scenario and connection count: requests/s, p50/p99 latency, CPU
# time per request (server process, user+system), and the ratios host/JS and host/floor;
# then peak RSS and cold start per target. Needs wrk and curl (apt-get install wrk curl).
#
# Targets: floor = bench_floor answering in one write (the ceiling); floor-hdr = the same
# answering through civetweb's header calls, one write per line (the usual way); host =
# inngest-host (dev mode; cloud mode for the signed request); js = the JS SDK. When the
# host is built without functions/fixtures.c, the many-steps rows of "host" come from
# bench_host: the same library and adapter serving the examples plus bench-many-steps.
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$src/build-bench
duration=10
repeat=1
js_cmd=""
js_app_id=inngest-c-ai-chat
use_js=1
only=""
out=""
while [ $# -gt 0 ]; do
  case $1 in
    --build) build=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --js-cmd) js_cmd=$2; shift 2 ;;
    --js-app-id) js_app_id=$2; shift 2 ;;
    --no-js) use_js=0; shift ;;
    --only) only=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    -h|--help) sed -n 2,20p "$0"; exit 0 ;;
    *) echo "run_bench.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
for tool in wrk curl cmake; do
  command -v $tool >/dev/null || { echo "run_bench.sh: $tool is missing" >&2; exit 1; }
done

key_hex=8ee2262a15e8d3c42d6a840db7af3de2aab08ef632b32a37a687f24b34dba3ff
key=signkey-test-$key_hex
port_floor=39100 port_host=39101 port_host_cloud=39102 port_js=39103 port_js_cloud=39104
port_floor_hdr=39105 port_bench_host=39106
scenarios=(introspect discovery memoized many100 many1000 signed)
[ -n "$only" ] && IFS=, read -r -a scenarios <<<"$only"
conns=(1 32)
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

echo "== building ($build)"
cmake -S "$src" -B "$build" -DINNGEST_BENCH=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target inngest-host bench_all >/dev/null
host_bin=$build/src/host/inngest-host
bench=$build/tests/bench

# The host serves bench-many-steps only when built with functions/fixtures.c.
host_fixtures=()
probe_out=$(INNGEST_DEV=1 timeout 1 "$host_bin" --host 127.0.0.1 --port 0 --fixtures 2>&1 || true)
if grep -q "no fixtures" <<<"$probe_out"; then
  echo "   note: this host build has no fixtures (functions/fixtures.c): many-steps rows come from bench_host"
else
  host_fixtures=(--fixtures)
fi
if [ "$use_js" = 1 ] && [ -z "$js_cmd" ]; then
  if [ ! -d "$src/tests/bench/js/node_modules/inngest" ]; then
    echo "== installing the JS SDK for the comparison (npm ci in tests/bench/js)"
    (cd "$src/tests/bench/js" && npm ci --no-audit --no-fund --loglevel=error)
  fi
  js_cmd="node $src/tests/bench/js/app.mjs"
fi

# start NAME PORT ENV... -- CMD...: starts a server, waits for it to listen, sets $started.
start() {
  local name=$1 port=$2; shift 2
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  env "${envs[@]}" "$@" >"$work/$name.log" 2>&1 &
  started=$!
  pids+=("$started")
  for _ in $(seq 1 200); do
    if curl -s -o /dev/null "http://127.0.0.1:$port/"; then return 0; fi
    kill -0 "$started" 2>/dev/null || break
    sleep 0.05
  done
  echo "run_bench.sh: $name did not start; its log:" >&2
  cat "$work/$name.log" >&2
  exit 1
}
stop() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
peak_rss_kib() { awk '/^VmHWM/ {print $2}' "/proc/$1/status"; }
tick_hz=$(getconf CLK_TCK)

# Results: one line per run in $work/results: target scenario conns rps p50 p99 cpu_us
: >"$work/results"
: >"$work/memory"

# measure TARGET PID PORT APP_ID CLOUD [SET]: runs the scenarios (SET: all, many, nomany)
measure() {
  local target=$1 pid=$2 port=$3 app_id=$4 cloud=$5 set=${6:-all}
  "$bench/bench_mkreq" --out "$work" --app-id "$app_id" --key "$key"
  for s in "${scenarios[@]}"; do
    if [ "$s" = signed ] && [ "$cloud" != 1 ]; then continue; fi
    if [ "$s" != signed ] && [ "$cloud" = 1 ]; then continue; fi
    if [[ $s == many* ]] && [ "$set" = nomany ]; then continue; fi
    if [[ $s != many* ]] && [ "$set" = many ]; then continue; fi
    for c in "${conns[@]}"; do
      # A fresh signature (valid for 300 s) before each signed run.
      if [ "$s" = signed ]; then
        "$bench/bench_mkreq" --out "$work" --app-id "$app_id" --key "$key" --only signed
      fi
      # shellcheck disable=SC1090
      . "$work/$s.env"
      local data=()
      [ "$METHOD" = POST ] && data=(--data-binary "@$work/$s.body")
      local code
      code=$(curl -s -o "$work/answer" -w '%{http_code}' -X "$METHOD" "${CURL_HEADERS[@]}" \
             "${data[@]}" "http://127.0.0.1:$port$REQPATH")
      local want=$EXPECT
      [[ $target == floor* ]] && want=200
      if [ "$code" != "$want" ]; then
        echo "run_bench.sh: $target $s answered $code, expected $want: $(head -c 300 "$work/answer")" >&2
        exit 1
      fi
      local threads=1
      [ "$c" -gt 1 ] && threads=2
      local d=$duration
      # A 1000-step replay takes the JS SDK ~0.3 s, so 32 connections queue ~10 s on its
      # one thread: give that scenario a longer run and timeout so some requests finish.
      [ "$s" = many1000 ] && d=$((duration * 3))
      : >"$work/runs"
      local r t0 t1 line
      for r in $(seq 1 "$repeat"); do
        t0=$(cpu_ticks "$pid")
        line=$(wrk -t"$threads" -c"$c" -d"${d}s" --timeout 60s -s "$work/$s.lua" \
               "http://127.0.0.1:$port" | grep '^WRK_RESULT' || true)
        t1=$(cpu_ticks "$pid")
        if [ -z "$line" ]; then echo "run_bench.sh: wrk failed for $target $s" >&2; exit 1; fi
        echo "$line" | awk -v t="$target" -v s="$s" -v c="$c" -v dt=$((t1 - t0)) -v hz="$tick_hz" '
          { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
          END {
            errs = v["err_connect"] + v["err_read"] + v["err_write"] + v["err_status"] + v["err_timeout"]
            rps = v["requests"] / (v["duration_us"] / 1e6)
            cpu = v["requests"] ? dt / hz * 1e6 / v["requests"] : 0
            printf "%s %s %s %.0f %.3f %.3f %.1f %d\n", t, s, c, rps, v["p50_us"] / 1000, v["p99_us"] / 1000, cpu, errs
          }' >>"$work/runs"
      done
      # Keep the run with the median req/s.
      sort -k4,4n "$work/runs" | sed -n "$(( (repeat + 1) / 2 ))p" >>"$work/results"
      tail -n1 "$work/results" | awk '{printf "   %-6s %-10s c=%-3s %9s req/s  p50 %7s ms  p99 %7s ms  cpu %7s us/req  errors %s\n", $1, $2, $3, $4, $5, $6, $7, $8}'
    done
  done
}

coldstart() { # NAME PORT MATCH ENV... -- CMD...
  local name=$1 port=$2 match=$3; shift 3
  local envs=()
  while [ "$1" != "--" ]; do envs+=("$1"); shift; done
  shift
  local best=""
  for _ in 1 2 3 4 5; do
    local ms
    ms=$(env "${envs[@]}" "$bench/bench_coldstart" "$port" /api/inngest --match "$match" -- "$@" 2>/dev/null |
         sed -n 's/^COLDSTART_MS=//p')
    [ -z "$ms" ] && continue
    if [ -z "$best" ] || awk -v a="$ms" -v b="$best" 'BEGIN{exit !(a < b)}'; then best=$ms; fi
  done
  echo "$name ${best:-n/a}" >>"$work/coldstart"
}
: >"$work/coldstart"

echo "== floor: bare civetweb handler"
start floor $port_floor -- "$bench/bench_floor" --port $port_floor
floor_pid=$started
measure floor "$floor_pid" $port_floor inngest-c-ai-chat 0
scenarios_saved=("${scenarios[@]}")
echo "floor $(peak_rss_kib "$floor_pid")" >>"$work/memory"
stop "$floor_pid"
coldstart floor $port_floor success -- "$bench/bench_floor" --port $port_floor

echo "== floor-hdr: bare civetweb handler answering through the header calls"
start floor-hdr $port_floor_hdr -- "$bench/bench_floor" --port $port_floor_hdr --header-api
measure floor-hdr "$started" $port_floor_hdr inngest-c-ai-chat 0
echo "floor-hdr $(peak_rss_kib "$started")" >>"$work/memory"
stop "$started"

echo "== inngest-host (dev mode)"
start host $port_host INNGEST_DEV=1 INNGEST_LOG_LEVEL=warn -- \
  "$host_bin" --host 127.0.0.1 --port $port_host "${host_fixtures[@]}"
host_pid=$started
if [ ${#host_fixtures[@]} = 0 ]; then
  measure host "$host_pid" $port_host inngest-c-ai-chat 0 nomany
else
  measure host "$host_pid" $port_host inngest-c-ai-chat 0
fi
echo "host $(peak_rss_kib "$host_pid")" >>"$work/memory"
stop "$host_pid"
if [ ${#host_fixtures[@]} = 0 ] && [[ " ${scenarios[*]} " == *" many"* ]]; then
  echo "== bench_host (dev mode): the host's library and adapter with bench-many-steps"
  start bench_host $port_bench_host INNGEST_DEV=1 -- "$bench/bench_host" --port $port_bench_host
  measure host "$started" $port_bench_host inngest-c-ai-chat 0 many
  echo "bench_host $(peak_rss_kib "$started")" >>"$work/memory"
  stop "$started"
fi
if [[ " ${scenarios[*]} " == *" signed "* ]]; then
  echo "== inngest-host (cloud mode, signed requests)"
  start host-cloud $port_host_cloud INNGEST_SIGNING_KEY=$key INNGEST_LOG_LEVEL=warn -- \
    "$host_bin" --host 127.0.0.1 --port $port_host_cloud
  measure host "$started" $port_host_cloud inngest-c-ai-chat 1
  echo "host-cloud $(peak_rss_kib "$started")" >>"$work/memory"
  stop "$started"
fi
coldstart host $port_host function_count INNGEST_DEV=1 INNGEST_LOG_LEVEL=warn -- \
  "$host_bin" --host 127.0.0.1 --port $port_host "${host_fixtures[@]}"

if [ "$use_js" = 1 ]; then
  # shellcheck disable=SC2086
  echo "== JS SDK ($js_cmd)"
  start js $port_js PORT=$port_js INNGEST_DEV=1 INNGEST_APP_ID=$js_app_id -- $js_cmd
  js_pid=$started
  measure js "$js_pid" $port_js "$js_app_id" 0
  echo "js $(peak_rss_kib "$js_pid")" >>"$work/memory"
  stop "$js_pid"
  if [[ " ${scenarios[*]} " == *" signed "* ]]; then
    echo "== JS SDK (cloud mode, signed requests)"
    start js-cloud $port_js_cloud PORT=$port_js_cloud INNGEST_SIGNING_KEY=$key \
      INNGEST_APP_ID=$js_app_id -- $js_cmd
    measure js "$started" $port_js_cloud "$js_app_id" 1
    echo "js-cloud $(peak_rss_kib "$started")" >>"$work/memory"
    stop "$started"
  fi
  coldstart js $port_js function_count PORT=$port_js INNGEST_DEV=1 INNGEST_APP_ID=$js_app_id -- $js_cmd
fi

# ---- the table ------------------------------------------------------------------------------
table() {
  echo "| scenario | conns | host req/s | host p50 / p99 ms | host CPU µs/req | JS req/s | JS p99 ms | JS CPU µs/req | floor req/s | floor-hdr req/s | host/JS | host/floor | host/floor-hdr |"
  echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
  awk '
    { key = $2 " " $3; if (!(key in seen)) { seen[key] = 1; order[n++] = key }
      rps[$1, key] = $4; p50[$1, key] = $5; p99[$1, key] = $6; cpu[$1, key] = $7 }
    function get(a, t, k) { return ((t, k) in a) ? a[t, k] : "" }
    function ratio(a, b, fmt) { return (a != "" && b != "" && b > 0) ? sprintf(fmt, a / b) : "–" }
    function or_dash(x) { return x == "" ? "–" : x }
    END {
      for (i = 0; i < n; i++) {
        k = order[i]; split(k, sc, " ")
        h = get(rps, "host", k); j = get(rps, "js", k)
        f = get(rps, "floor", k); g = get(rps, "floor-hdr", k)
        printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", sc[1], sc[2],
          or_dash(h), h == "" ? "–" : get(p50, "host", k) " / " get(p99, "host", k),
          or_dash(get(cpu, "host", k)), or_dash(j), or_dash(get(p99, "js", k)),
          or_dash(get(cpu, "js", k)), or_dash(f), or_dash(g),
          ratio(h, j, "%.0f×"), ratio(h, f, "%.2f×"), ratio(h, g, "%.2f×")
      }
    }' "$work/results"
  echo
  echo "| process | peak RSS MiB | cold start ms (best of 5) |"
  echo "|---|---:|---:|"
  while read -r name kib; do
    cs=$(awk -v n="$name" '$1 == n {print $2}' "$work/coldstart")
    printf '| %s | %.1f | %s |\n' "$name" "$(awk -v k="$kib" 'BEGIN{print k/1024}')" "${cs:-–}"
  done <"$work/memory"
}
echo
echo "== results ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, ${duration}s per run, median of $repeat)"
table | tee "${out:-/dev/null}"
