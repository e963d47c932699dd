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
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$src/build-bench
sizes="100000 1000000"
repeat=3
docs=2000
out=""
while [ $# -gt 0 ]; do
  case $1 in
    --build) build=$2; shift 2 ;;
    --sizes) sizes=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --docs) docs=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S "$src" -B "$build" -DINNGEST_BENCH=ON >/dev/null
fi
cmake --build "$build" -j"$(nproc)" --target bench_rag >/dev/null
bin=$build/tests/bench/bench_rag
run() {
  echo "# RAG benchmark"
  echo
  echo "Machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores," \
       "$(free -g | awk '/^Mem:/{print $2}') GiB RAM; $(date -u '+%Y-%m-%d %H:%M UTC');" \
       "load average $(cut -d' ' -f1-3 /proc/loadavg)."
  for n in $sizes; do
    "$bin" --n "$n" --repeat "$repeat" --no-ingest
  done
  "$bin" --no-search --docs "$docs" --repeat "$repeat"
}
if [ -n "$out" ]; then run | tee "$out"; else run; fi
