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
#     --backends L   sqlite, postgresql, or both: sqlite,postgresql (default sqlite); each
#                    set is measured on every backend in turn, so side by side
#     --pg-url URL   with postgresql: a server of yours (URL of any database on it; one
#                    database per set and variant is created there, rag_<set>_<variant>,
#                    and reused); without it a private server is started with
#                    tests/pg/pg_ctl.sh and stopped at the end (its stores are rebuilt
#                    every run)
set -euo pipefail
src=$(cd "$(dirname "$0")/../.." && pwd)
build=$src/build
bin=""
sets=man,perl,python
variants=with,without
split=dev
work=/tmp/inngest-retrieval
backends=sqlite
pg_url=""
while [ $# -gt 0 ]; do
  case $1 in
    --build) build=$2; shift 2 ;;
    --eval) bin=$2; shift 2 ;;
    --sets) sets=$2; shift 2 ;;
    --variants) variants=$2; shift 2 ;;
    --split) split=$2; shift 2 ;;
    --work) work=$2; shift 2 ;;
    --backends) backends=$2; shift 2 ;;
    --pg-url) pg_url=$2; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[ -n "$bin" ] || bin=$build/tests/ai/rag_eval
[ -x "$bin" ] || { echo "no rag_eval at $bin (cmake --build $build --target rag_eval)" >&2; exit 2; }
mkdir -p "$work/stores"
for set in ${sets//,/ }; do
  [ -f "$work/$set/questions.jsonl" ] || python3 "$src/tests/bench/retrieval/make_sets.py" "$work" --sets "$set"
done
pgdir=""
trap '[ -z "$pgdir" ] || "$src/tests/pg/pg_ctl.sh" stop "$pgdir" >/dev/null 2>&1 || true' EXIT
if [[ ",$backends," == *,postgresql,* ]] && [ -z "$pg_url" ]; then
  pgdir=$(mktemp -d "${TMPDIR:-/tmp}/retrieval-pg.XXXXXX")
  pg_url=$("$src/tests/pg/pg_ctl.sh" start "$pgdir")
fi
# store_of SET VARIANT BACKEND: the store's path or URL (a PostgreSQL database is created
# when missing).
store_of() {
  if [ "$3" = postgresql ]; then
    local db=rag_${1}_$2
    psql -qAt "$pg_url" -c "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1 ||
      psql -qAt "$pg_url" -c "CREATE DATABASE $db" >/dev/null
    echo "${pg_url%/*}/$db"
  else
    echo "$work/stores/$1-$2.db"
  fi
}
echo "Machine: $(lscpu | sed -n 's/^Model name: *//p'), $(nproc) cores; $(date -u '+%Y-%m-%d %H:%M UTC');" \
     "load average $(cut -d' ' -f1-3 /proc/loadavg)"
for set in ${sets//,/ }; do
  for v in ${variants//,/ }; do
    for b in ${backends//,/ }; do
      echo
      echo "### $set, $v description lines ($split), $b"
      echo
      "$bin" --corpus "$work/$set/$v/pages" --questions "$work/$set/questions.jsonl" \
        --store "$(store_of "$set" "$v" "$b")" --split "$split"
      echo
      echo "Load average: $(cut -d' ' -f1-3 /proc/loadavg)"
    done
  done
done
