#!/bin/sh
# SPDX-License-Identifier: MIT
# The include rule of docs/design.md ("Layers"), checked on the source tree: each folder
# may include only the project headers of the layers below it, and each outside library
# has one home. Usage: tests/layers.sh [SOURCE_DIR]; prints every breach, exits 1 if any.
root=${1:-$(dirname "$0")/..}
cd "$root" || exit 2
bad=0

# allow DIR PATTERN: every project include ("...") in DIR/*.[ch] must match PATTERN.
allow() {
  for f in "$1"/*.[ch]; do
    [ -e "$f" ] || continue
    awk -v dir="$1" -v re="^($2)\$" -F'"' '/^#include "/ && $2 !~ re {
      printf "%s:%d: includes \"%s\", which %s may not\n", FILENAME, FNR, $2, dir }' "$f"
  done
}

# only HEADER FILE...: the outside header HEADER is included by these files and no other.
only() {
  h=$1
  shift
  grep -rln "^#include <$h>" src functions | sort | while read -r f; do
    case " $* " in *" $f "*) ;; *) echo "$f: includes <$h>, which only $* may" ;; esac
  done
}

out=$(
  allow src/core 'fmacros\.h|core/[a-z0-9_]+\.h|inngest/[a-z0-9_]+\.h'
  allow src/net 'fmacros\.h|core/[a-z0-9_]+\.h|net/[a-z0-9_]+\.h|inngest/[a-z0-9_]+\.h'
  allow src/ai 'fmacros\.h|core/(alloc|buf|utf8)\.h|ai/[a-z0-9_]+\.h|inngest/[a-z0-9_]+\.h'
  allow src/rag 'fmacros\.h|core/(alloc|buf|utf8)\.h|rag/[a-z0-9_]+\.h|inngest/[a-z0-9_]+\.h'
  allow src/host 'fmacros\.h|core/(alloc|buf|utf8)\.h|host/[a-z0-9_]+\.h|inngest/[a-z0-9_]+\.h|chat\.h|examples\.h|fixtures\.h'
  allow functions '[a-z0-9_]+\.h'
  only curl/curl.h src/net/http_client_curl.c
  only civetweb.h src/net/http_server_civetweb.c
  only sqlite3.h src/rag/store_sqlite.c
  only openssl/evp.h src/core/sig.c
  only openssl/rand.h src/core/sig.c
  only openssl/crypto.h src/core/sig.c
)
if [ -n "$out" ]; then
  printf '%s\n' "$out"
  echo "layers: the include rule of docs/design.md is broken"
  exit 1
fi
echo "layers: every include follows docs/design.md"
