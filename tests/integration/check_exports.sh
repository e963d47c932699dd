#!/usr/bin/env bash
# check_exports.sh <shared library>: the library exports only the public API. Every
# defined dynamic symbol must be inngest_* (or a toolchain symbol starting with _). Fails
# when nm fails, prints nothing, or finds no inngest_ symbol (the wrong file), so that a
# broken check cannot pass.
set -euo pipefail
lib=$1
if ! out=$(nm -D --defined-only "$lib"); then
  echo "exports: nm -D failed on $lib" >&2
  exit 1
fi
syms=$(printf '%s\n' "$out" | awk 'NF >= 3 {print $3}')
public=$(printf '%s\n' "$syms" | grep -c '^inngest_' || true)
if [ "$public" -eq 0 ]; then
  echo "exports: no inngest_ symbol in $lib; is it the library?" >&2
  exit 1
fi
other=$(printf '%s\n' "$syms" | grep -v '^inngest_' | grep -v '^_' | grep -v '^$' || true)
if [ -n "$other" ]; then
  printf 'exports: %s exports symbols outside the public API:\n%s\n' "$lib" "$other" >&2
  exit 1
fi
echo "exports: $public inngest_ symbols, nothing else"
