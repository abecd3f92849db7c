#!/usr/bin/env bash
# Checks scripts/setup.sh's test for libclang: bindgen loads libclang.so* or
# libclang-<version>.so*, never the C++ API library libclang-cpp.so*, so a
# machine with only libclang-cpp must be told it lacks libclang.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=/dev/null
source <(sed -n '/^libclang_name_ok()/,/^}/p; /^have_libclang()/,/^}/p' scripts/setup.sh)
fail=0
expect() {
  local want=$1 name=$2 got=no
  if echo "$name" | libclang_name_ok; then got=yes; fi
  if [ "$got" != "$want" ]; then
    echo "setup check: $name: expected $want, got $got" >&2
    fail=1
  fi
}
for name in libclang.so libclang.so.1 libclang-14.so.1 libclang-14.so libclang-14.0.6.so \
  libclang-14.so.14.0.6 /usr/lib/llvm-14/lib/libclang.so.1; do
  expect yes "$name"
done
for name in libclang-cpp.so.14 libclang-cpp.so /usr/lib/x86_64-linux-gnu/libclang-cpp.so.14 \
  libclangAST.a libclang.a libclang-14.so.1.bak; do
  expect no "$name"
done
# The list of a machine with libclang-cpp alone says no; with libclang, yes.
if printf 'libclang-cpp.so.14\nlibLLVM-14.so.1\n' | libclang_name_ok; then
  echo "setup check: a machine with only libclang-cpp was taken to have libclang" >&2; fail=1
fi
if ! printf 'libclang-cpp.so.14\nlibclang-14.so.1\n' | libclang_name_ok; then
  echo "setup check: libclang-14.so.1 was not recognised" >&2; fail=1
fi
# setup.sh has run: on this machine the check must now find the library, with
# pipefail on as in setup.sh (a reader that stops early must not turn "found"
# into "missing").
if ! have_libclang; then
  echo "setup check: libclang is installed but have_libclang does not find it" >&2; fail=1
fi
[ "$fail" -eq 0 ] || exit 1
echo "setup check: libclang detection ok"
