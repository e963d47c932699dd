#!/usr/bin/env bash
# Fault (b): the Inngest API is down while the host syncs and sends events.
#
#   tests/soak/api_down.sh [--build DIR]
#
# Three cases, each against a fresh dev-mode host whose INNGEST_DEV points at:
#   closed   a loopback port nothing listens on (connection refused)
#   500      a stand-in server (node) that answers every request with 500 and counts them
#   slow     a stand-in that accepts and answers 500 only after 2 s (every request)
# and in each: PUT /api/inngest (sync) and POST /api/chat/inngest (sends chat/message).
# Prints, per request: HTTP status, seconds to answer, how many requests reached the
# stand-in (the host's retries), and the start of the answer. Every curl has a 120 s cap,
# so a hang shows as status 000 at 120 s. Also GET /healthz, which must answer 200 (the
# host itself is up; its body reports the API). Exit status 1 when an answer took that
# long, when a sync or a send was a 2xx (a success against a dead API would be a lie),
# when /healthz was not 200, or when the host did not stop with status 0 on SIGTERM.
. "$(dirname "$0")/lib.sh"
build=$soak_src/build-soak
while [ $# -gt 0 ]; do
  case $1 in
    --build) build=$2; shift 2 ;;
    -h|--help) sed -n 2,15p "$0"; exit 0 ;;
    *) echo "api_down.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
soak_build "$build"
host=$build/src/host/inngest-host

# The stand-in: answers 500 (after DELAY ms) and appends one line per request to COUNT.
cat >"$soak_work/stand_in.js" <<'JS'
const http = require("http");
const fs = require("fs");
const [port, delay, count] = process.argv.slice(2);
http.createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    fs.appendFileSync(count, `${req.method} ${req.url}\n`);
    setTimeout(() => {
      res.writeHead(500, { "Content-Type": "application/json" });
      res.end('{"error":"stand-in: internal server error"}');
    }, Number(delay));
  });
}).listen(Number(port), "127.0.0.1");
JS

echo "== $(soak_machine)"
fail=0
# probe NAME EXPECT METHOD PATH [BODY]: one request to the host, one printed line. EXPECT
# is "200" (exactly that status) or "not-2xx" (an error status, not a hang).
probe() {
  local name=$1 expect=$2 method=$3 path=$4 body=${5:-}
  local before after t0 t1 code
  before=$(wc -l <"$count" 2>/dev/null || echo 0)
  t0=$(now_ms)
  code=$(curl -s -o "$soak_work/answer" -w '%{http_code}' --max-time 120 -X "$method" \
         ${body:+-H 'Content-Type: application/json' --data-binary "$body"} \
         "http://127.0.0.1:$port$path" || true)
  t1=$(now_ms)
  after=$(wc -l <"$count" 2>/dev/null || echo 0)
  printf '   %-7s %-26s status %s  %6.2f s  requests at the API %d  answer: %s\n' \
    "$name" "$method $path" "$code" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{print (b-a)/1000}')" \
    "$((after - before))" "$(head -c 160 "$soak_work/answer" | tr '\n' ' ')"
  if [ "$expect" = 200 ]; then
    [ "$code" = 200 ] || { echo "   FAIL: expected 200"; fail=1; }
  elif [ "$code" = 000 ] || [[ $code == 2* ]]; then
    echo "   FAIL: expected an error status"
    fail=1
  fi
}

for case in closed 500 slow; do
  count=$soak_work/count-$case
  : >"$count"
  api_port=$(free_port)
  if [ "$case" != closed ]; then
    delay=0
    [ "$case" = slow ] && delay=2000
    start_bg "$soak_work/stand-in-$case.log" node "$soak_work/stand_in.js" "$api_port" "$delay" "$count"
    api_pid=$bg_pid
    for _ in $(seq 1 100); do curl -s -o /dev/null "http://127.0.0.1:$api_port/" && break; sleep 0.05; done
    : >"$count" # forget the readiness probe
  fi
  port=$(free_port)
  start_bg "$soak_work/host-$case.log" env INNGEST_DEV="http://127.0.0.1:$api_port" \
    INNGEST_LOG_LEVEL=warn "$host" --port "$port"
  host_pid=$bg_pid
  wait_http "http://127.0.0.1:$port/healthz" "$host_pid" || { cat "$soak_work/host-$case.log"; exit 1; }
  echo "== Inngest API $case (INNGEST_DEV=http://127.0.0.1:$api_port)"
  probe "$case" not-2xx PUT /api/inngest
  probe "$case" not-2xx POST /api/chat/inngest '{"messages":[{"role":"user","content":"Hello"}]}'
  probe "$case" 200 GET /healthz
  kill -0 "$host_pid" 2>/dev/null || { echo "   CRASH: the host died"; fail=1; }
  kill "$host_pid" 2>/dev/null || true
  host_rc=0
  wait "$host_pid" || host_rc=$?
  if [ "$host_rc" != 0 ]; then
    echo "   FAIL: the host ended with status $host_rc on SIGTERM"
    fail=1
  fi
  [ "$case" != closed ] && stop_pid "$api_pid"
done
exit $fail
