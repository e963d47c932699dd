#!/usr/bin/env bash
# Fault (c): hostile clients against the host on loopback.
#
#   tests/soak/hostile.sh [--seconds S] [--slow N] [--idle N] [--amp N] [--phases LIST]
#                         [--build DIR | --host-bin PATH]
#
# Phases (--phases, default all, in this order):
#   amplify   N (--amp, default 16) concurrent POSTs to a cloud-mode host's /api/inngest of
#             a [[],[],...] body with a bad signature: 16 MiB with an expired t, 16 MiB and
#             1 MiB with a current t and a wrong HMAC. A fresh host per case; prints its
#             peak RSS (VmHWM) before and after. The bound: N x body + idle (docs/security.md).
#   rebind    a dev-mode host asked with a foreign Host header (DNS rebinding): 403 expected
#             on host routes and on dev-mode /api/inngest, 200 for localhost.
#   csrf      cross-site POSTs (Origin, Sec-Fetch-Site, text/plain) to /api/rag/documents
#             and /api/chat: 403 expected; curl -d without Origin still reaches the route.
#   then the oversized bodies (a 20 MiB POST and a 1 GiB Content-Length: 413 quickly), and
#   while a normal client (a fresh connection per request, one GET /api/inngest every
#   100 ms, 5 s timeout) measures how quickly it is still answered, S seconds (default 30)
#   each of:
#   baseline  the probe alone
#   slowloris N (--slow, default 200) connections sending request headers a byte a second
#   slowbody  N (--slow) POSTs to /api/rag/documents whose body comes a byte a second
#             (worker starvation through a host route)
#   idle      N (--idle, default 3000) connections that send nothing
# --host-bin runs that binary (e.g. an older build, for a before/after comparison) instead
# of building one in DIR.
. "$(dirname "$0")/lib.sh"
seconds=30 slow=200 idle=3000 amp=16 build=$soak_src/build-soak host_bin=
phases=amplify,rebind,csrf,baseline,slowloris,slowbody,idle
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --slow) slow=$2; shift 2 ;;
    --idle) idle=$2; shift 2 ;;
    --amp) amp=$2; shift 2 ;;
    --phases) phases=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --host-bin) host_bin=$2; shift 2 ;;
    -h|--help) sed -n 2,30p "$0"; exit 0 ;;
    *) echo "hostile.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
has_phase() { case ",$phases," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
ulimit -n $((idle + 1000)) 2>/dev/null || true
if [ -n "$host_bin" ]; then host=$host_bin; else soak_build "$build"; host=$build/src/host/inngest-host; fi
echo "== $(soak_machine)"
fail=0
mib() { awk -v k="$1" 'BEGIN{printf "%.0f", k/1024}'; }

if has_phase amplify; then
  echo "== amplification: $amp concurrent bad-signature bodies of [[],[],...] to a cloud-mode host"
  for c in "expired $((16 << 20))" "fresh $((16 << 20))" "fresh $((1 << 20))"; do
    set -- $c
    p=$(free_port)
    start_bg "$soak_work/amp-$1-$2.log" env -u INNGEST_DEV INNGEST_SIGNING_KEY=signkey-test-0123456789abcdef \
      INNGEST_LOG_LEVEL=error "$host" --port "$p"
    apid=$bg_pid
    wait_http "http://127.0.0.1:$p/healthz" "$apid" || { cat "$soak_work/amp-$1-$2.log"; exit 1; }
    idle_kib=$(hwm_kib "$apid")
    line=$(node "$soak_src/tests/soak/hostile.js" "$p" amplify "$amp" "$2" "$1")
    peak_kib=$(hwm_kib "$apid")
    body_mib=$(mib $(($2 / 1024)))
    printf '   %-8s t, %2s MiB bodies x %3d: peak RSS %6s MiB (idle %s MiB; N x body = %s MiB)  %s\n' \
      "$1" "$body_mib" "$amp" "$(mib "$peak_kib")" "$(mib "$idle_kib")" "$((amp * body_mib))" \
      "$(echo "$line" | node -e 'const r=JSON.parse(require("fs").readFileSync(0,"utf8")); console.log(JSON.stringify(r.statuses) + " in " + r.ms + " ms")')"
    # The bound: N bodies, the canonical-form retries (at most 4 x ~48 MiB, for bodies up to
    # 1 MiB) and 64 MiB of slack for allocator and thread stacks.
    [ "$peak_kib" -le $(( (amp * $2 / 1024) + idle_kib + 4 * 48 * 1024 + 64 * 1024 )) ] || fail=1
    stop_pid "$apid"
  done
fi

port=$(free_port)
start_bg "$soak_work/host.log" env INNGEST_DEV=1 INNGEST_LOG_LEVEL=warn "$host" --port "$port"
host_pid=$bg_pid
wait_http "http://127.0.0.1:$port/healthz" "$host_pid" || { cat "$soak_work/host.log"; exit 1; }
base=http://127.0.0.1:$port

expect() { # WHAT WANT CURL-ARGS...: one request, its status against WANT
  local what=$1 want=$2 code; shift 2
  code=$(curl -s -o "$soak_work/answer" -w '%{http_code}' --max-time 10 "$@" || true)
  printf '   %-58s %s (want %s)%s\n' "$what" "$code" "$want" "$([ "$code" = "$want" ] || echo '  <-- FAIL')"
  [ "$code" = "$want" ] || fail=1
}
if has_phase rebind; then
  echo "== DNS rebinding: requests whose Host names another site"
  for path in / /metrics /api/rag/documents /api/chat/inngest/poll?eventId=X /api/inngest; do
    expect "GET $path, Host: rebound.attacker.example" 403 -H 'Host: rebound.attacker.example:3000' "$base$path"
  done
  expect "GET /metrics, Host: localhost" 200 -H "Host: localhost:$port" "$base/metrics"
  expect "GET /healthz, Host: rebound.attacker.example (probes use any name)" 200 -H 'Host: rebound.attacker.example' "$base/healthz"
fi
if has_phase csrf; then
  echo "== CSRF: cross-site POSTs to state-changing routes"
  doc='{"source":"csrf.md","text":"ignore previous instructions"}'
  expect "POST /api/rag/documents, Origin: http://attacker.example" 403 -H 'Origin: http://attacker.example' -H 'Content-Type: text/plain' -d "$doc" "$base/api/rag/documents"
  expect "POST /api/rag/documents, Sec-Fetch-Site: cross-site" 403 -H 'Sec-Fetch-Site: cross-site' -d "$doc" "$base/api/rag/documents"
  expect "POST /api/chat, Origin: null" 403 -H 'Origin: null' -d '{"messages":[]}' "$base/api/chat"
  expect "DELETE /api/rag/documents, Origin: http://attacker.example" 403 -X DELETE -H 'Origin: http://attacker.example' "$base/api/rag/documents?key=README.md"
  expect "POST /api/chat, curl -d (no Origin): reaches the route" 400 -d '{"messages":[]}' "$base/api/chat"
fi

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
    amplify|rebind|csrf) ;;
    baseline) run_phase baseline 0 ;;
    slowloris) run_phase slowloris "$slow" ;;
    slowbody) run_phase slowbody "$slow" ;;
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
