#!/usr/bin/env bash
# Fault (d): kill -9 of `inngest-host ingest` at random moments, and what survives.
#
#   tests/soak/ingest_kill.sh [--kills N] [--docs N] [--http] [--pg | --store-url URL]
#                             [--build DIR]
#
# Generates a folder of --docs Markdown files (default 300, 2-24 KB of words each), times
# one full re-ingestion (--force) of it in a scratch store, then N times (default 20): starts
# `inngest-host ingest --force FOLDER` into one shared store (offline hashing embedder),
# SIGKILLs it at a uniformly random moment within that time, and checks that the store
# opens (`ingest --list` succeeds), that every document the CLI ever acknowledged (its
# "added"/"replaced" line on stderr, written after the document's transaction commits) is
# listed, and that SQLite's integrity_check passes. --force makes every run rewrite every
# document, so kills land inside replace transactions too. Prints one line per kill.
#
# --http does the same through a running host instead of the CLI: a client POSTs the
# documents one by one to /api/rag/documents (acknowledged = HTTP 200), the host is
# SIGKILLed at a random moment within --http-window ms (default 2000), restarted on the
# same store, and GET /api/rag/documents must list every acknowledged key.
#
# --pg runs the same against PostgreSQL: a private server (tests/pg/pg_ctl.sh, fsync on,
# stopped at the end) instead of a SQLite file; --store-url URL uses a database of yours
# (it must be empty: its rag_* tables are dropped first). The integrity check is then
# PostgreSQL's own: every document's chunk count matches its chunk rows, no chunk without
# its document, and every chunk has its codes and vector.
. "$(dirname "$0")/lib.sh"
kills=20 docs=300 http=0 window=2000 build=$soak_src/build-soak pg=0 url=""
while [ $# -gt 0 ]; do
  case $1 in
    --kills) kills=$2; shift 2 ;;
    --docs) docs=$2; shift 2 ;;
    --http) http=1; shift ;;
    --http-window) window=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --pg) pg=1; shift ;;
    --store-url) url=$2; shift 2 ;;
    -h|--help) sed -n 2,25p "$0"; exit 0 ;;
    *) echo "ingest_kill.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
soak_build "$build"
build=$(cd "$build" && pwd) # the host runs in a folder of its own
host=$build/src/host/inngest-host
"$host" ingest --help >/dev/null 2>&1 || { echo "ingest_kill.sh: this host has no ingest command" >&2; exit 1; }
export RAG_EMBEDDER=hash
unset OPENAI_API_KEY

folder=$soak_work/docs
mkdir -p "$folder/sub"
python3 - "$folder" "$docs" <<'PY'
import random, sys, os
folder, n = sys.argv[1], int(sys.argv[2])
random.seed(42)
words = ("inngest durable step function retry event sleep wait invoke parallel store chunk "
         "vector keyword hybrid search embed model answer stream replay signature sync host "
         "civetweb sqlite wal crash kill recover acknowledge").split()
for i in range(n):
    sub = "sub/" if i % 3 == 0 else ""
    with open(os.path.join(folder, f"{sub}doc{i:04d}.md"), "w") as f:
        f.write(f"# Document {i}\n\n")
        size, target = 0, random.randint(2000, 24000)
        while size < target:
            para = " ".join(random.choice(words) for _ in range(random.randint(20, 120))) + ".\n\n"
            f.write(para)
            size += len(para)
PY
store=$soak_work/store.db
calibrate=$soak_work/calibrate.db
if [ "$pg" = 1 ]; then
  pgdir=$soak_work/pg
  trap 'PG_FSYNC=on "$soak_src/tests/pg/pg_ctl.sh" stop "$pgdir" >/dev/null 2>&1 || true; soak_cleanup' EXIT
  url=$(PG_FSYNC=on "$soak_src/tests/pg/pg_ctl.sh" start "$pgdir")
  psql -qAt "$url" -c "CREATE DATABASE calibrate" >/dev/null
  calibrate=${url%/*}/calibrate
elif [ -n "$url" ]; then
  psql -qAt "$url" -c "DROP TABLE IF EXISTS rag_staged, rag_chunks, rag_documents, rag_meta, rag_schema" >/dev/null
  calibrate=""
fi
[ -n "$url" ] && store=$url
echo "== $(soak_machine)"
[ -n "$url" ] && echo "== store: PostgreSQL $(psql -qAt "$store" -c 'SHOW server_version'), fsync $(psql -qAt "$store" -c 'SHOW fsync'), synchronous_commit $(psql -qAt "$store" -c 'SHOW synchronous_commit')"

# check_kill K DELAY_MS THIS_RUN WORD: compares $acked (every key ever acknowledged) with
# $soak_work/listed (what the reopened store lists), runs integrity_check, prints a line.
check_kill() {
  local missing integrity
  missing=$(comm -23 "$acked" "$soak_work/listed" | wc -l)
  if [ -n "$url" ]; then
    integrity=$(psql -qAt "$store" -c "SELECT CASE WHEN n = 0 THEN 'ok' ELSE n || ' inconsistencies' END FROM (SELECT
        (SELECT count(*) FROM rag_documents d WHERE d.chunks <> (SELECT count(*) FROM rag_chunks c WHERE c.doc_id = d.id))
      + (SELECT count(*) FROM rag_chunks c WHERE NOT EXISTS (SELECT 1 FROM rag_documents d WHERE d.id = c.doc_id))
      + (SELECT count(*) FROM rag_chunks c WHERE length(c.codes) = 0 OR length(c.f32) = 0) AS n) x" 2>&1 || true)
  else
    integrity=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('pragma integrity_check').fetchone()[0])" "$store" 2>&1 || true)
  fi
  printf '   kill %2d at %5d ms: %3d %s this run, %3d ever; %3d listed; missing %d; integrity %s\n' \
    "$1" "$2" "$3" "$4" "$(wc -l <"$acked")" "$(wc -l <"$soak_work/listed")" "$missing" "$integrity"
  if [ "$missing" != 0 ] || [ "$integrity" != ok ]; then fail=1; comm -23 "$acked" "$soak_work/listed" | head -5; fi
}

if [ "$http" = 1 ]; then
  # poster: POSTs every file, appends the key of each 200 to ACKED (flushed at once).
  cat >"$soak_work/post.py" <<'PY'
import json, os, sys, urllib.request
port, folder, acked = sys.argv[1], sys.argv[2], sys.argv[3]
open(acked + ".started", "w").close()  # the kill window starts now, not at python's start
with open(acked, "a") as out:
    for root, _, files in sorted(os.walk(folder)):
        for name in sorted(files):
            path = os.path.join(root, name)
            key = os.path.relpath(path, folder)
            body = json.dumps({"key": key, "source": key, "text": open(path).read()}).encode()
            req = urllib.request.Request(f"http://127.0.0.1:{port}/api/rag/documents?force=1",
                                         data=body, headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=30) as r:
                    if r.status == 200:
                        out.write(key + "\n"); out.flush()
            except Exception:
                sys.exit(0)  # the host is gone
PY
  port=$(free_port)
  acked=$soak_work/acked
  : >"$acked"
  fail=0
  start_host() {
    if [ -n "$url" ]; then
      start_bg "$soak_work/host.log" env INNGEST_DEV=1 INNGEST_LOG_LEVEL=warn RAG_STORE_URL="$store" \
        "$host" --port "$port"
    else
      start_bg "$soak_work/host.log" env INNGEST_DEV=1 INNGEST_LOG_LEVEL=warn RAG_STORE_PATH="$store" \
        "$host" --port "$port"
    fi
    host_pid=$bg_pid
    wait_http "http://127.0.0.1:$port/healthz" "$host_pid"
  }
  echo "== $docs documents over HTTP, $kills kills within ${window} ms of the first POST"
  for k in $(seq 1 "$kills"); do
    start_host || { echo "   kill $k: the host does not start on the store: $(tail -n 3 "$soak_work/host.log")"; fail=1; break; }
    delay_ms=$(( 20 + (RANDOM * 32768 + RANDOM) % window ))
    before=$(wc -l <"$acked")
    rm -f "$acked.started"
    python3 "$soak_work/post.py" "$port" "$folder" "$acked" &
    poster=$!
    # The delay counts from the poster's first request (python may take a second to start).
    for _ in $(seq 1 1000); do [ -e "$acked.started" ] && break; sleep 0.01; done
    sleep "$(awk -v m="$delay_ms" 'BEGIN{print m/1000}')"
    kill -9 "$host_pid" 2>/dev/null || true
    wait "$host_pid" 2>/dev/null || true
    wait "$poster" 2>/dev/null || true
    this_run=$(( $(wc -l <"$acked") - before ))
    sort -u -o "$acked" "$acked"
    start_host || { echo "   kill $k: the host does not start on the store: $(tail -n 3 "$soak_work/host.log")"; fail=1; break; }
    curl -s --max-time 30 "http://127.0.0.1:$port/api/rag/documents" >"$soak_work/list.json"
    stop_pid "$host_pid"
    python3 -c 'import json,sys; [print(d["key"]) for d in json.load(open(sys.argv[1]))["documents"]]' \
      "$soak_work/list.json" 2>/dev/null | sort -u >"$soak_work/listed" || true
    check_kill "$k" "$delay_ms" "$this_run" "acknowledged (HTTP 200)"
  done
  [ "$fail" = 0 ] && echo "== every acknowledged document survived $kills kills of the host" || echo "== FAILED"
  exit $fail
fi
# The kill window: one --force run over a full store (what every run below does).
# (Against a database of yours, the calibration runs in the store itself, emptied after.)
"$host" ingest --store "${calibrate:-$store}" "$folder" >/dev/null 2>&1
t0=$(now_ms)
"$host" ingest --force --store "${calibrate:-$store}" "$folder" >/dev/null 2>&1
full_ms=$(( $(now_ms) - t0 ))
[ -z "$calibrate" ] && psql -qAt "$url" -c "TRUNCATE rag_documents, rag_chunks, rag_staged, rag_meta" >/dev/null
echo "== $docs documents ($(du -sk "$folder" | cut -f1) KiB); one full ingestion takes $full_ms ms; $kills kills"
acked=$soak_work/acked
: >"$acked"
fail=0
for k in $(seq 1 "$kills"); do
  delay_ms=$(( 20 + (RANDOM * 32768 + RANDOM) % (full_ms > 20 ? full_ms : 21) ))
  "$host" ingest --force --store "$store" "$folder" >"$soak_work/out" 2>"$soak_work/err" &
  pid=$!
  sleep "$(awk -v m="$delay_ms" 'BEGIN{print m/1000}')"
  kill -9 "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  # Every "added"/"replaced" line names a committed document.
  awk '$1 == "added" || $1 == "replaced" || $1 == "unchanged" {print $2}' "$soak_work/err" >>"$acked"
  sort -u -o "$acked" "$acked"
  this_run=$(awk '$1 == "added" || $1 == "replaced" || $1 == "unchanged"' "$soak_work/err" | wc -l)
  if ! "$host" ingest --store "$store" --list >"$soak_work/list" 2>"$soak_work/list.err"; then
    echo "   kill $k at $delay_ms ms: the store does not open: $(head -c 200 "$soak_work/list.err")"
    fail=1
    continue
  fi
  awk 'NF >= 5 && $2 ~ /^[0-9]+$/ && $3 == "chunks" {print $1}' "$soak_work/list" | sort -u >"$soak_work/listed"
  check_kill "$k" "$delay_ms" "$this_run" acknowledged
done
echo "== $(tail -n1 "$soak_work/list")"
[ "$fail" = 0 ] && echo "== every acknowledged document survived $kills kills" || echo "== FAILED"
exit $fail
