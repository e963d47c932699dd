#!/usr/bin/env bash
# RAG benchmark: the exact int8 vector scan at 100k and 1M vectors of 1536 dimensions
# (latency, recall@10 against exact float32, next to the measured read bandwidth) and
# ingestion through the store with the hash embedder. Not part of CI; prints markdown.
#
#   tests/bench/run_rag_bench.sh [options]
#     --build DIR     build tree (default build-bench; configured with -DINNGEST_BENCH=ON
#                     and bench_rag built here)
#     --sizes LIST    vector counts, space-separated (default "100000 1000000"; 1M needs
#                     about 10 GB of RAM and a few minutes)
#     --repeat N      runs per measurement (default 3; the run with the median p50 is shown)
#     --docs N        documents per ingestion run (default 2000)
#     --out FILE      also write the markdown to FILE
#     --backends LIST instead of the above: ingestion and search through real stores,
#                     comma-separated: sqlite (a file in a temporary folder),
#                     postgresql (a private server started with tests/pg/pg_ctl.sh, fsync
#                     on, stopped at the end), or store URIs; every store must be empty
#     --chunks LIST   with --backends: the sizes measured (default 16000,100000)
#     --queries N     with --backends: questions per size (default 200)
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$src/build-bench
sizes="100000 1000000"
repeat=3
docs=2000
out=""
backends=""
chunks=16000,100000
queries=200
while [ $# -gt 0 ]; do
  case $1 in
    --build) build=$2; shift 2 ;;
    --sizes) sizes=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --docs) docs=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --backends) backends=$2; shift 2 ;;
    --chunks) chunks=$2; shift 2 ;;
    --queries) queries=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$src" -B "$build" -DINNGEST_BENCH=ON >/dev/null
fi
cmake --build "$build" -j"$(nproc)" --target bench_rag >/dev/null
bin=$build/tests/bench/bench_rag
tmp=""
pgdir=""
cleanup() {
  [ -n "$pgdir" ] && "$src/tests/pg/pg_ctl.sh" stop "$pgdir" >/dev/null 2>&1 || true
  [ -n "$tmp" ] && rm -rf "$tmp"
}
trap cleanup EXIT
store_args=()
for b in ${backends//,/ }; do
  case $b in
    sqlite)
      [ -n "$tmp" ] || tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-stores.XXXXXX")
      store_args+=(--store "sqlite:$tmp/bench.db") ;;
    postgresql)
      [ -n "$tmp" ] || tmp=$(mktemp -d "${TMPDIR:-/tmp}/bench-stores.XXXXXX")
      pgdir=$tmp/pg
      store_args+=(--store "$(PG_FSYNC=on "$src/tests/pg/pg_ctl.sh" start "$pgdir")") ;;
    *) store_args+=(--store "$b") ;;
  esac
done
run() {
  echo "# RAG benchmark"
  echo
  echo "Machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores," \
       "$(free -g | awk '/^Mem:/{print $2}') GiB RAM; $(date -u '+%Y-%m-%d %H:%M UTC');" \
       "load average $(cut -d' ' -f1-3 /proc/loadavg)."
  if [ ${#store_args[@]} -gt 0 ]; then
    "$bin" "${store_args[@]}" --chunks "$chunks" --queries "$queries" --k 5
    echo
    echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
    return
  fi
  for n in $sizes; do
    "$bin" --n "$n" --repeat "$repeat" --no-ingest
  done
  "$bin" --no-search --docs "$docs" --repeat "$repeat"
}
if [ -n "$out" ]; then run | tee "$out"; else run; fi
