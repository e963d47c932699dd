#!/usr/bin/env bash
# Installs the build into a scratch prefix, then builds a consumer program against it twice
# (CMake package and pkg-config) and runs it, and the same for a consumer of the AI and RAG
# libraries (<inngest/ai.h>, <inngest/rag.h>) when the build has them; also compiles every
# public header alone, as C and as C++.
set -euo pipefail
build=$1 src=$2
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cmake --install "$build" --prefix "$work/prefix" >/dev/null
libdir=$(ls -d "$work/prefix"/lib* | head -n1)
export LD_LIBRARY_PATH="$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

echo "== CMake package"
cmake -S "$src/tests/install" -B "$work/cmake-build" -DCMAKE_PREFIX_PATH="$work/prefix" >/dev/null
cmake --build "$work/cmake-build" >/dev/null
"$work/cmake-build/consumer"

echo "== pkg-config"
export PKG_CONFIG_PATH="$libdir/pkgconfig"
cc -std=c11 -Wall -Werror "$src/tests/install/consumer.c" $(pkg-config --cflags --libs inngest) \
   -o "$work/consumer-pc"
"$work/consumer-pc"

if [ -x "$work/cmake-build/consumer_rag" ]; then
  mkdir "$work/scratch-cmake"
  "$work/cmake-build/consumer_rag" "$work/scratch-cmake"
fi
if [ -f "$libdir/pkgconfig/inngest-rag.pc" ]; then
  echo "== pkg-config (AI and RAG)"
  cc -std=c11 -Wall -Werror "$src/tests/install/consumer_rag.c" \
     $(pkg-config --cflags --libs inngest-rag) -o "$work/consumer-rag-pc"
  mkdir "$work/scratch-pc"
  "$work/consumer-rag-pc" "$work/scratch-pc"
else
  echo "== no AI and RAG libraries in this build (INNGEST_BUILD_HOST=OFF)"
fi

echo "== headers stand alone (C and C++)"
for h in "$work/prefix"/include/inngest/*.h; do
  name=$(basename "$h")
  printf '#include <inngest/%s>\n' "$name" > "$work/one.c"
  cc -std=c11 -Wall -Werror -fsyntax-only -I"$work/prefix/include" "$work/one.c"
  if command -v c++ >/dev/null; then
    c++ -x c++ -std=c++11 -Wall -Werror -fsyntax-only -I"$work/prefix/include" "$work/one.c"
  fi
done
echo "install check passed"
