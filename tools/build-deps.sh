#!/usr/bin/env bash
# Installs what building Stockroom needs beyond Rust, if it is missing: cmake and nasm,
# with which the bundled libjpeg-turbo is built (SIMD). Sourced by demo.sh and test.sh.
need=()
command -v cmake >/dev/null || need+=(cmake)
command -v nasm >/dev/null || need+=(nasm)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && apt-get install -y -qq "${need[@]}" >/dev/null
  else
    echo "install ${need[*]} first (sudo apt-get install ${need[*]})" >&2
    exit 1
  fi
fi
