#!/usr/bin/env bash
# The retrieval floor: builds the "pylib" set (Python's library reference pages from the
# python3-doc package, description lines removed from the pages; see
# tests/bench/retrieval/make_sets.py) and fails when hybrid or keyword recall@5 on its
# train and dev questions drops below the floor. The numbers when the floors were last
# raised are in docs/rag.md (hybrid 0.895, keyword 0.879); the floors leave room for
# small changes (5 questions of 190) but not for a ranking that loses pages.
#   retrieval_floor.sh RAG_EVAL WORK_DIR
set -euo pipefail
eval_bin=$1
work=$2
src=$(cd "$(dirname "$0")/../.." && pwd)
if ! ls -d /usr/share/doc/python3*-doc/html/_sources >/dev/null 2>&1; then
  echo "retrieval_floor: python3-doc is not installed (bash .ci/setup --test installs it)" >&2
  exit 1
fi
rm -rf "$work"
mkdir -p "$work"
python3 "$src/tests/bench/retrieval/make_sets.py" "$work" --sets pylib
"$eval_bin" --corpus "$work/pylib/without/pages" --questions "$work/pylib/questions.jsonl" \
  --store "$work/store.db" --split train,dev --modes hybrid,keyword \
  --floor hybrid:0.87 --floor keyword:0.85
rm -rf "$work"
