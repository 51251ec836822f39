#!/usr/bin/env bash
# chrony-suite.sh -- chrony's own simulation test suite (test/simulation in chrony's sources, by
# chrony's authors), run with ntpkit's daemon in chronyd's place, beside chronyd in the same run.
#
#   scripts/chrony-suite.sh [--seed N] [--jobs N] [--nodes followers|all] [--only ntpkit|chronyd]
#                           [--timeout SECONDS] [--keep DIR] [TEST...]
#
# Every test (default: all of them, e.g. 001-defaults) runs unchanged, with the same random seed,
# once with chronyd on every node and once with ntpkit in chronyd's place: on every node that
# follows a source (--nodes followers, the default; the reference servers stay chronyd), or on
# every chronyd node (--nodes all). clknetsim starts each program through our static wrapper
# (tools/suite-wrapper.c, as CLKNETSIM_CLIENT_WRAPPER), which execs the daemon as
# `DAEMON --clock system ARGS...` with chronyd's arguments.
#
# Scores, one line per test, then the totals:
#   chronyd   the test's verdict with chronyd
#   strict    ntpkit, the test as chrony's authors wrote it
#   relaxed   ntpkit, with two of chrony's checks relaxed (scripts/chrony-suite/relax.bash): the
#             clean-exit line may say "ntpkit exiting", and syncing sooner than the test's lower
#             bound is not a failure. A test passes strictly only if it passes with neither.
#   failing check   ntpkit's (relaxed) BAD or ERROR check the test stopped at, from its output (the
#                   last one: an earlier BAD can be a check the test expects to fail)
# PASS, FAIL, SKIP (exit 9: a feature config.h lacks, clknetsim missing), TIME (over --timeout).
#
# Needs (nothing of either is in this repository; build them yourself, outside it):
#   CHRONY_SRC      a chrony source tree (https://github.com/mlichvar/chrony, e.g. tag 4.3),
#                   configured and built: `./configure && make` at its top gives the config.h
#                   the tests read and the chronyd/chronyc they run.
#   CLKNETSIM_PATH  a built clknetsim (https://github.com/mlichvar/clknetsim: `make` in it).
# and gcc with a static libc (libc6-dev) for the wrapper, cargo, and setpriv (util-linux).
# Without CHRONY_SRC or CLKNETSIM_PATH it says what is missing and exits 3.
#
# Nothing here can reach the real clock: every test runs without CAP_SYS_TIME (setpriv drops it
# from the bounding set), and clknetsim simulates every clock call. Each test runs in a fresh
# folder of links under $TMPDIR (removed after, unless --keep DIR keeps the logs there).
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
# (A run of one test gets the settings from the run that started it, through the environment.)
seed=${NTPKIT_SUITE_SEED:-1} nodes=${NTPKIT_SUITE_NODES:-followers}
timeout_s=${NTPKIT_SUITE_TIMEOUT:-600} keep=${NTPKIT_SUITE_KEEP:-} jobs=2 only=""
tests=()
while [ $# -gt 0 ]; do
  case $1 in
    --seed) seed=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    --nodes) nodes=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --timeout) timeout_s=$2; shift 2 ;;
    --keep) keep=$2; shift 2 ;;
    --one) shift; tests=("$@"); break ;;  # internal: run one (WHO TEST)
    -h|--help) sed -n '2,34p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown option $1 (--help)" >&2; exit 2 ;;
    *) tests+=("$1"); shift ;;
  esac
done
case $nodes in followers|all) ;; *) echo "--nodes: followers or all" >&2; exit 2 ;; esac

# --- one test ------------------------------------------------------------------------------------
# run_one WHO TEST MODE: runs TEST in a fresh folder; prints its exit code; the output goes to
# $results/WHO-TEST.out (MODE: chronyd, strict, relaxed).
run_one() {
  local who=$1 test=$2 mode=$3 work rc
  work=$(mktemp -d "${TMPDIR:-/tmp}/ntpkit-suite.XXXXXX")
  mkdir -p "$work/top/test/simulation"
  local f
  for f in "$CHRONY_SRC"/test/simulation/*; do ln -s "$f" "$work/top/test/simulation/"; done
  for f in config.h chronyd chronyc; do ln -s "$CHRONY_SRC/$f" "$work/top/$f"; done
  local env=(CLKNETSIM_PATH="$CLKNETSIM_PATH" CLKNETSIM_RANDOM_SEED="$seed")
  if [ "$mode" != chronyd ]; then
    env+=(CLKNETSIM_CLIENT_WRAPPER="$bin/suite-wrapper" NTPKIT_DAEMON="$bin/client" NTPKIT_NODES="$nodes")
    [ "$mode" = relaxed ] && env+=(BASH_ENV="$repo/scripts/chrony-suite/relax.bash" \
      NTPKIT_SUITE_NOTES="$work/notes")
  fi
  set +e
  (cd "$work/top/test/simulation" && \
    timeout -k 10 "$timeout_s" env "${env[@]}" "${drop[@]}" "./$test") > "$results/$who-$test.out" 2>&1
  rc=$?
  set -e
  [ -s "$work/notes" ] && sort -u "$work/notes" > "$results/$who-$test.notes"
  if [ -n "$keep" ]; then
    local kept="$keep/$who-$test"; [ "$mode" = strict ] && kept+=.strict
    mkdir -p "$kept" && cp -r "$work/top/test/simulation/tmp/." "$kept/" 2>/dev/null || true
  fi
  rm -rf "$work"
  echo "$rc"
}

verdict() {
  case $1 in 0) echo PASS ;; 9) echo SKIP ;; 124|137) echo TIME ;; *) echo FAIL ;; esac
}

if [ "${NTPKIT_SUITE_ONE:-}" = 1 ]; then
  read -ra drop <<< "${drop_list:-}"
  who=${tests[0]} test=${tests[1]}
  if [ "$who" = chronyd ]; then
    verdict "$(run_one chronyd "$test" chronyd)" > "$results/chronyd-$test.verdict"
  else
    relaxed=$(run_one ntpkit "$test" relaxed)
    strict=$relaxed
    if [ -s "$results/ntpkit-$test.notes" ]; then
      # A relaxation was used: the strict verdict needs a run of its own.
      cp "$results/ntpkit-$test.out" "$results/ntpkit-$test.relaxed.out"
      strict=$(run_one ntpkit "$test" strict)
      mv "$results/ntpkit-$test.out" "$results/ntpkit-$test.strict.out"
      mv "$results/ntpkit-$test.relaxed.out" "$results/ntpkit-$test.out"
    fi
    echo "$(verdict "$strict") $(verdict "$relaxed")" > "$results/ntpkit-$test.verdict"
  fi
  exit 0
fi

# --- setup ---------------------------------------------------------------------------------------
missing=""
if [ -z "${CHRONY_SRC:-}" ] || [ ! -r "$CHRONY_SRC/test/simulation/test.common" ]; then
  missing+="CHRONY_SRC (a chrony source tree: https://github.com/mlichvar/chrony) "
elif [ ! -r "$CHRONY_SRC/config.h" ] || [ ! -x "$CHRONY_SRC/chronyd" ] || [ ! -x "$CHRONY_SRC/chronyc" ]; then
  echo "CHRONY_SRC=$CHRONY_SRC is not built: run ./configure && make there" >&2; exit 3
fi
if [ -z "${CLKNETSIM_PATH:-}" ] || [ ! -x "$CLKNETSIM_PATH/clknetsim" ] || [ ! -r "$CLKNETSIM_PATH/clknetsim.so" ]; then
  missing+="CLKNETSIM_PATH (a built clknetsim: https://github.com/mlichvar/clknetsim, make) "
fi
if [ -n "$missing" ]; then
  echo "chrony-suite: not run: set $missing(docs/clknetsim.md)" >&2
  exit 3
fi
CHRONY_SRC=$(cd "$CHRONY_SRC" && pwd) CLKNETSIM_PATH=$(cd "$CLKNETSIM_PATH" && pwd)
export CHRONY_SRC CLKNETSIM_PATH
[ ${#tests[@]} -gt 0 ] || mapfile -t tests < <(cd "$CHRONY_SRC/test/simulation" && ls | grep -E '^[0-9]+-.*[^_]$')

bin=$(mktemp -d "${TMPDIR:-/tmp}/ntpkit-suite-bin.XXXXXX")
results=$(mktemp -d "${TMPDIR:-/tmp}/ntpkit-suite-results.XXXXXX")
trap 'rm -rf "$bin" "$results"' EXIT
export bin results NTPKIT_SUITE_SEED=$seed NTPKIT_SUITE_NODES=$nodes NTPKIT_SUITE_TIMEOUT=$timeout_s
[ -n "$keep" ] && mkdir -p "$keep" && export NTPKIT_SUITE_KEEP=$(cd "$keep" && pwd)
if [ "$only" != chronyd ]; then
  (cd "$repo" && cargo build --release --example client --quiet)
  cp "$repo/target/release/examples/client" "$bin/client"
  gcc -static -O2 -Wall -o "$bin/suite-wrapper" "$repo/tools/suite-wrapper.c"
fi
# Never let anything here reach the real clock.
drop=()
if (( (16#$(awk '/^CapBnd/ {print $2}' /proc/self/status) >> 25) & 1 )); then
  drop=(setpriv --bounding-set=-sys_time --inh-caps=-sys_time --)
fi
export drop_list="${drop[*]}"

whos="chronyd ntpkit"; [ -n "$only" ] && whos=$only
for test in "${tests[@]}"; do for who in $whos; do echo "$who $test"; done; done \
  | xargs -P "$jobs" -L 1 env NTPKIT_SUITE_ONE=1 bash "$0" --one

# --- table ---------------------------------------------------------------------------------------
failing_check() {  # the BAD or ERROR check a test stopped at (the last), from its output
  awk '/^    [^ ]/ { check = $0 } /\t(BAD|ERROR)$/ { failed = check } END { sub(/^ +/, "", failed); print failed }' "$1" \
    | sed 's/:$//' | cut -c1-60
}
printf '\nchrony test suite, seed %s, ntpkit on %s nodes (%s)\n\n' "$seed" "$nodes" "$(date -u +%F)"
printf '%-24s %-8s %-8s %-8s %s\n' test chronyd strict relaxed "ntpkit's failing check (relaxed)"
declare -A total
for test in "${tests[@]}"; do
  c=- s=- r=- why=""
  [ -r "$results/chronyd-$test.verdict" ] && c=$(cat "$results/chronyd-$test.verdict")
  if [ -r "$results/ntpkit-$test.verdict" ]; then
    read -r s r < "$results/ntpkit-$test.verdict"
    [ "$r" = FAIL ] && why=$(failing_check "$results/ntpkit-$test.out")
    [ "$r" = FAIL ] && [ -z "$why" ] && why=$(grep -v '^\s*$' "$results/ntpkit-$test.out" | tail -1 | cut -c1-60)
  fi
  printf '%-24s %-8s %-8s %-8s %s\n' "$test" "$c" "$s" "$r" "$why"
  total[chronyd-$c]=$(( ${total[chronyd-$c]:-0} + 1 ))
  total[strict-$s]=$(( ${total[strict-$s]:-0} + 1 ))
  total[relaxed-$r]=$(( ${total[relaxed-$r]:-0} + 1 ))
  if [ -n "$keep" ]; then
    mkdir -p "$keep"; cp "$results"/*-"$test".* "$keep/" 2>/dev/null || true
  fi
done
printf '\n%-10s %6s %6s %6s %6s   of %s tests\n' "" PASS FAIL SKIP TIME "${#tests[@]}"
for col in chronyd strict relaxed; do
  [ "$col" != chronyd ] && [ "$only" = chronyd ] && continue
  [ "$col" = chronyd ] && [ "$only" = ntpkit ] && continue
  printf '%-10s %6s %6s %6s %6s\n' "$col" "${total[$col-PASS]:-0}" "${total[$col-FAIL]:-0}" \
    "${total[$col-SKIP]:-0}" "${total[$col-TIME]:-0}"
done
