#!/usr/bin/env bash
# Installs what a fresh machine with only a Rust toolchain lacks to build Cairn:
# libclang (bindgen needs it to build RocksDB's bindings) and a C++ compiler.
# Safe to run again: it installs nothing that is already there.
set -euo pipefail

# The library bindgen loads is libclang.so* or libclang-<version>.so*; the
# C++ API library libclang-cpp.so* (installed on its own by some packages)
# is not it. Tested by scripts/test-setup.sh.
libclang_name_ok() {
  # Not `grep -q`: it stops reading at the first match, and with pipefail the
  # writer's SIGPIPE would then make a found library look missing.
  grep -E '(^|/)libclang(-[0-9.]+)?\.so(\.[0-9.]+)?$' >/dev/null
}
have_libclang() {
  { ldconfig -p 2>/dev/null | awk '{print $1}'
    ls /usr/lib/llvm-*/lib/ 2>/dev/null
  } | libclang_name_ok
}

need=()
have_libclang || need+=(libclang-dev)
command -v c++ >/dev/null 2>&1 || need+=(g++)

if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]} (needed to build RocksDB)" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "setup: run as root or install: ${need[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
