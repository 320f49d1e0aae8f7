#!/usr/bin/env bash
# Sourced by the benchmark scripts with the Python packages their peers need:
#   source tools/py-venv.sh pdqhash imagehash
# Makes (once) a venv in target/py, installs what is missing, and sets $venv.
venv=target/py
[ -x $venv/bin/python ] || python3 -m venv $venv
missing=()
for package in "$@"; do
  $venv/bin/pip show -q "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then $venv/bin/pip install -q "${missing[@]}"; fi
