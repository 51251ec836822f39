#!/usr/bin/env bash
# chronyc-commands.sh -- every command of a chronyc's `help`, against chronyd and against ntpkit's node,
# side by side (the table in docs/cmdmon.md).
#
#   scripts/chronyc-commands.sh [VERSION:CHRONYC:CHRONYD ...]
#
# Default: Debian's chrony 4.3 (`4.3:chronyc:chronyd`). Other versions: a chronyc and a chronyd a user
# built by hand from chrony's tags (https://github.com/mlichvar/chrony: `git archive 4.8`,
# `./configure && make`), e.g. `4.8:/path/chrony-4.8/chronyc:/path/chrony-4.8/chronyd`; nothing of
# them is kept here. For each version: chronyd A (-x, local stratum 8) serves on 127.0.0.1; chronyd B
# (-x) and ntpkit's node N (examples/client, on its own virtual clock) both follow A and serve; each
# command is run with that version's chronyc against B's and N's Unix sockets, in the same order (the
# commands that change a daemon last, `shutdown` at the end). Prints, per version, a markdown table:
# the command, what chronyc printed first against chronyd and against ntpkit (numbers written as #),
# and whether they agree.
#
# Needs root (chronyd drops to _chrony) and the release examples (built here). Loopback only; never
# touches the clock (chronyd always -x; examples/client keeps its own clock); stops only what it
# started, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."
PAIRS=("$@")
[ ${#PAIRS[@]} -gt 0 ] || PAIRS=("4.3:chronyc:chronyd")
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ntpkit-chronyc-commands.XXXXXX")
chmod 755 "$WORK"
PA=11611 PB=11612 PN=11613
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT
for p in $PA $PB $PN; do
  if ss -Hulpn "sport = :$p" | grep -q .; then echo "port $p is in use" >&2; exit 1; fi
done
cargo build --release --example client --quiet
BIN=${CARGO_TARGET_DIR:-target}/release/examples

# start_chronyd CHRONYD DIR CONF: a chronyd -x in the foreground (its PID is ours).
start_chronyd() {
  local dir=$2
  install -d -m 0750 -o _chrony -g _chrony "$dir"
  printf '%s\npidfile %s/chronyd.pid\nbindcmdaddress %s/chronyd.sock\ncmdport 0\n' "$3" "$dir" "$dir" \
    > "$dir/chrony.conf"
  "$1" -d -x -f "$dir/chrony.conf" > "$dir/chronyd.log" 2>&1 &
  PIDS+=($!)
}

# wait_for CHRONYC SOCK: the daemon answers, with a source selected.
wait_for() {
  for _ in $(seq 1 300); do
    "$1" -h "$2" -n sources 2>/dev/null | grep -q '^\^\*' && return 0
    sleep 0.1
  done
  echo "no source selected at $2" >&2
  return 1
}

# answer CHRONYC SOCK COMMAND: chronyc's first line (numbers as #) and its exit status.
answer() {
  local out rc=0
  out=$(timeout 10 "$1" -h "$2" -n $3 2>&1 | head -1) || rc=$?
  printf '%s [%s]' "$(printf '%s' "$out" | sed -E 's/[0-9]+/#/g; s/ +/ /g')" "$rc"
}

for pair in "${PAIRS[@]}"; do
  IFS=: read -r version chronyc chronyd <<< "$pair"
  dir="$WORK/$version"
  mkdir -p "$dir"
  start_chronyd "$chronyd" "$dir/a" "port $PA
bindaddress 127.0.0.1
allow 127.0.0.1
local stratum 8"
  follow="server 127.0.0.1 port $PA minpoll -2 maxpoll 0 iburst
allow 127.0.0.0/8
bindaddress 127.0.0.1
dumpdir DIR
log measurements
logdir DIR"
  start_chronyd "$chronyd" "$dir/b" "port $PB
${follow//DIR/$dir/b}"
  install -d -m 0700 "$dir/n"
  printf '%s\nport %s\nbindcmdaddress %s/n/ntpkit.sock\ncmdport 0\npidfile %s/n/ntpkit.pid\n' \
    "${follow//DIR/$dir/n}" "$PN" "$dir" "$dir" > "$dir/n/chrony.conf"
  "$BIN/client" -d -f "$dir/n/chrony.conf" > "$dir/n/client.log" 2>&1 &
  PIDS+=($!)
  wait_for "$chronyc" "$dir/b/chronyd.sock"
  wait_for "$chronyc" "$dir/n/ntpkit.sock"
  sleep 3
  help=$("$chronyc" -h 127.0.0.1 help)
  commands=(
    "tracking" "sources" "sources -v" "sourcestats" "sourcestats -v" "selectdata" "activity"
    "authdata" "ntpdata" "ntpdata 127.0.0.1" "ntpdata 127.0.0.9" "serverstats" "clients"
    "sourcename 127.0.0.1" "smoothing" "rtcdata" "manual list" "waitsync 1"
    "burst 2/4" "offline" "online" "onoffline" "reselect" "refresh"
    "makestep 1 3" "maxupdateskew 100" "reselectdist 0.0001" "minpoll 127.0.0.1 -2"
    "maxpoll 127.0.0.1 0" "maxdelay 127.0.0.1 1" "maxdelayratio 127.0.0.1 2"
    "maxdelaydevratio 127.0.0.1 10" "minstratum 127.0.0.1 0" "polltarget 127.0.0.1 8"
    "minpoll 127.0.0.9 2"
  )
  grep -q '^selectopts' <<< "$help" && commands+=("selectopts 127.0.0.1 +trust")
  grep -q '^offset' <<< "$help" && commands+=("offset 127.0.0.1 0.0")
  commands+=(
    "allow 127.0.0.0/8" "deny 10.0.0.0/8" "allow all 192.0.2.0/24" "deny all 198.51.100.0/24"
    "allow 10.0.0.0/33" "accheck 127.0.0.1" "accheck 10.0.0.1" "cmdallow 192.0.2.0/24"
    "cmddeny 198.51.100.0/24" "cmdaccheck 192.0.2.1" "cmdaccheck 198.51.100.1"
    "local stratum 10" "local off" "add server 127.0.0.2 port 9" "add server 127.0.0.2 port 9"
    "delete 127.0.0.2" "delete 127.0.0.9" "reset sources" "reload sources" "dump" "rekey"
    "cyclelogs" "manual on" "settime 12:00:00" "manual reset" "manual off" "manual delete 0"
    "makestep" "smoothtime reset" "writertc" "trimrtc" "shutdown"
  )
  echo
  echo "### chronyc $version: chronyd $version and ntpkit"
  echo
  echo "| command | chronyd | ntpkit | |"
  echo "|---|---|---|---|"
  same=0
  for c in "${commands[@]}"; do
    b=$(answer "$chronyc" "$dir/b/chronyd.sock" "$c")
    n=$(answer "$chronyc" "$dir/n/ntpkit.sock" "$c")
    mark="≠"
    [ "$b" = "$n" ] && { mark="="; same=$((same + 1)); }
    printf '| `%s` | %s | %s | %s |\n' "$c" "${b//|/\\|}" "${n//|/\\|}" "$mark"
  done
  echo
  echo "$same of ${#commands[@]} answers alike."
  # The shutdowns ended B and N; A is stopped with the rest.
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  PIDS=()
done
