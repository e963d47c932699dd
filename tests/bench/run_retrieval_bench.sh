#!/usr/bin/env bash
# Retrieval benchmark: recall@1/5/10, MRR and search latency (p50/p99) per search mode on
# the labelled sets of tests/bench/retrieval/make_sets.py (man-pages, perl-doc, Python's
# docs; each with and without the pages' description lines). Prints markdown.
#
#   tests/bench/run_retrieval_bench.sh [options]
#     --build DIR    build tree holding tests/ai/rag_eval (default build)
#     --eval BIN     the rag_eval binary to measure (default DIR/tests/ai/rag_eval); give
#                    an older build's to compare before and after on the same stores
#     --sets LIST    comma-separated sets (default man,perl,python)
#     --variants L   with,without (default both)
#     --split NAME   questions asked: train, dev, test, comma lists, or all (default dev;
#                    test only for final numbers: never tune on it)
#     --work DIR     where the sets and stores live (default /tmp/inngest-retrieval);
#                    built when missing (the man and perl sets take minutes of groff)
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$src/build
bin=""
sets=man,perl,python
variants=with,without
split=dev
work=/tmp/inngest-retrieval
while [ $# -gt 0 ]; do
  case $1 in
    --build) build=$2; shift 2 ;;
    --eval) bin=$2; shift 2 ;;
    --sets) sets=$2; shift 2 ;;
    --variants) variants=$2; shift 2 ;;
    --split) split=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[ -n "$bin" ] || bin=$build/tests/ai/rag_eval
[ -x "$bin" ] || { echo "no rag_eval at $bin (cmake --build $build --target rag_eval)" >&2; exit 2; }
mkdir -p "$work/stores"
for set in ${sets//,/ }; do
  [ -f "$work/$set/questions.jsonl" ] || python3 "$src/tests/bench/retrieval/make_sets.py" "$work" --sets "$set"
done
echo "Machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $(date -u '+%Y-%m-%d %H:%M UTC');" \
     "load average $(cut -d' ' -f1-3 /proc/loadavg)"
for set in ${sets//,/ }; do
  for v in ${variants//,/ }; do
    echo
    echo "### $set, $v description lines ($split)"
    echo
    "$bin" --corpus "$work/$set/$v/pages" --questions "$work/$set/questions.jsonl" \
      --store "$work/stores/$set-$v.db" --split "$split"
  done
done
