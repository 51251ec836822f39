#!/bin/bash
# chronyd-verdicts.sh PROBES > VERDICTS.tsv -- what chronyd 4.3 says of each probe line.
#
# Each line of PROBES is one configuration (\n, \t, \r and \xHH escapes allowed). For each, chronyd
# reads a file holding it twice: `chronyd -x -p` (parse only) and `chronyd -x -Q -t 1` (the whole
# start-up, measuring only: it never touches the clock and opens no server port). The verdict is
# `err` if either reports a fatal error, else `ok`. tests/data/chronyd-4.3-verdicts.tsv is this
# script's output; tests/config_verdicts.rs checks that ntpkit agrees with every line.
#
# Safety: always -x; the file starts with `cmdport 0`, `bindcmdaddress /` and a pidfile in a temp
# dir, so only the probe line itself can open anything. Lines that would open devices, send to
# non-loopback addresses or read named files at start (refclock of a known driver, hwtimestamp,
# broadcast, ptpport, tempcomp) get only the -p verdict; probe `server`/`pool`/`peer` lines use loopback addresses only.
set -euo pipefail
probes=${1:?usage: $0 PROBES}
base=$(mktemp -d)
trap 'rm -rf "$base"' EXIT
n=0
while IFS= read -r probe || [ -n "$probe" ]; do
  # A fresh directory each time: probes may create files (logdir x).
  n=$((n + 1))
  work="$base/$n"
  mkdir "$work"
  cd "$work"
  printf '%b\n' "$probe" > p.conf
  line=$(tr -d '\0' < p.conf)
  verdict=ok
  if ! chronyd -x -p -f p.conf > /dev/null 2> p.err; then
    verdict=err
  else
    first=$(printf '%s' "$line" | awk '{print tolower($1); exit}')
    driver=$(printf '%s' "$line" | awk '{print $2; exit}')
    full_start=yes
    case "$first" in
      # Devices, non-loopback packets, or files read at start.
      hwtimestamp|broadcast|ptpport|tempcomp) full_start=no ;;
      refclock) case "$driver" in PPS|SHM|SOCK|PHC) full_start=no ;; esac ;;
    esac
    if [ "$full_start" = yes ]; then
      { printf 'pidfile %s/q.pid\ncmdport 0\nbindcmdaddress /\n' "$work"; cat p.conf; } > q.conf
      out=$(timeout 10 chronyd -x -Q -t 1 -u root -f q.conf 2>&1 || true)
      if grep -q 'Fatal error' <<< "$out"; then
        verdict=err
      fi
    fi
  fi
  printf '%s\t%s\n' "$verdict" "$probe"
  cd "$base"
  rm -rf "$work"
done < "$probes"
