#!/usr/bin/env bash
# wrk.sh — make sure wrk (Debian's package) is on PATH for BenchmarkSites'
# run from outside the process: installed with apt-get as root, else a
# message saying how. Never fails: without wrk the benchmark skips that run
# and still prints its in-process figures.
set -uo pipefail

command -v wrk >/dev/null && exit 0
if [ "$(id -u)" = 0 ]; then
  if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; then
    exit 0
  fi
  echo "wrk.sh: installing wrk failed; BenchmarkSites skips its wrk run" >&2
else
  echo "wrk is missing, so BenchmarkSites skips its wrk run; install it with: sudo apt-get install -y wrk" >&2
fi
exit 0
