#!/usr/bin/env bash
# Installs what building Stockroom needs beyond Rust, if it is missing: cmake and nasm,
# with which the bundled libjpeg-turbo is built (SIMD). Sourced by demo.sh, test.sh and
# the benchmarks, which install their own peers with `install_missing`.

# install_missing COMMAND[=PACKAGE]...: installs, from Debian, the package of each command
# that is neither on PATH nor in /usr/sbin (PACKAGE defaults to COMMAND). As root it runs
# apt-get; otherwise it says what to install and exits.
install_missing() {
  local spec command want=()
  for spec in "$@"; do
    command=${spec%%=*}
    command -v "$command" >/dev/null || [ -x "/usr/sbin/$command" ] || want+=("${spec#*=}")
  done
  [ ${#want[@]} -gt 0 ] || return 0
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${want[@]}" >/dev/null
  else
    echo "install ${want[*]} first (sudo apt-get install ${want[*]})" >&2
    exit 1
  fi
}

install_missing cmake nasm
