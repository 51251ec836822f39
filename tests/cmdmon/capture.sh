#!/bin/bash
# capture.sh -- record chronyc <-> chronyd command exchanges on loopback (tests/cmdmon/README.md).
# Needs root (chronyd drops to _chrony), strace and python3, and chrony: Debian's 4.3 by default, or
# the chronyc and chronyd a user built by hand from chrony's sources (CHRONYC=..., CHRONYD=...).
# Never touches the clock: every chronyd runs with -x. Everything listens on loopback only.
#   SET=monitor (default): the reports, the access checks, the command table (captures/);
#   SET=actions: the commands that act on the node (captures/actions/; they change C, so they run
#     after C's reports and end with `shutdown`);
#   SET=version: a later chronyc's reports and commands (OUT=captures/4.8 etc.).
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
DIR=${CAP_DIR:-/tmp/ntpkit-cmdmon-capture}
SET=${SET:-monitor}
case $SET in
  monitor) OUT=${OUT:-$HERE/captures} ;;
  actions) OUT=${OUT:-$HERE/captures/actions} ;;
  version) : "${OUT:?set OUT to a folder for that version, e.g. captures/4.8}" ;;
  *) echo "SET must be monitor, actions or version" >&2; exit 2 ;;
esac
CHRONYC=${CHRONYC:-chronyc}
CHRONYD=${CHRONYD:-chronyd}
SETTLE=${SETTLE:-30}
# Ports nobody else on a shared machine is likely to use (a second daemon on the same port, as
# chronyd binds with SO_REUSEPORT, would take some of the datagrams).
PA=31124 PB=31125 PC=31126 PDEAD=31127 CMDPORT=31323 CMDPORT_E=31329
for p in $PA $PB $PC $PDEAD $CMDPORT $CMDPORT_E; do
  if ss -Hulpn "sport = :$p" | grep -q .; then echo "port $p is in use" >&2; exit 1; fi
done
mkdir -p "$OUT" "$DIR"
chmod 755 "$DIR"
install -d -m 0750 -o _chrony -g _chrony "$DIR/a" "$DIR/b" "$DIR/c" "$DIR/e"

# A: local stratum 8 on 127.0.0.1 and ::1; B: local stratum 9 on 127.0.0.2.
cat > "$DIR/a/chrony.conf" <<CONF
port $PA
bindaddress 127.0.0.1
bindaddress ::1
allow 127.0.0.1
allow ::1
local stratum 8
cmdport 0
bindcmdaddress $DIR/a/chronyd.sock
pidfile $DIR/a/chronyd.pid
CONF
cat > "$DIR/b/chrony.conf" <<CONF
port $PB
bindaddress 127.0.0.2
allow 127.0.0.0/8
local stratum 9
cmdport 0
bindcmdaddress $DIR/b/chronyd.sock
pidfile $DIR/b/chronyd.pid
CONF
# C, the daemon whose command socket is captured: follows A by name and on ::1, B, and a silent
# 127.0.0.3 (noselect); serves NTP on 127.0.0.1:$PC; answers commands on the Unix socket and on
# UDP 127.0.0.1/::1 port $CMDPORT.
cat > "$DIR/c/chrony.conf" <<CONF
server localhost port $PA minpoll -2 maxpoll 0 iburst
server 127.0.0.2 port $PB minpoll -2 maxpoll 0 iburst
server ::1 port $PA minpoll -2 maxpoll 0 iburst
server 127.0.0.3 port $PDEAD minpoll 0 maxpoll 0 noselect
port $PC
bindaddress 127.0.0.1
allow 127.0.0.1
cmdport $CMDPORT
bindcmdaddress 127.0.0.1
bindcmdaddress ::1
bindcmdaddress $DIR/c/chronyd.sock
pidfile $DIR/c/chronyd.pid
CONF

# E: no sources, no local reference (unsynchronised); a throwaway for commands.py.
cat > "$DIR/e/chrony.conf" <<CONF
port 0
cmdport $CMDPORT_E
bindcmdaddress 127.0.0.1
bindcmdaddress $DIR/e/chronyd.sock
pidfile $DIR/e/chronyd.pid
CONF

stop() {
  for d in e c b a; do
    f="$DIR/$d/chronyd.pid"
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    # only a chronyd started from this directory's config
    if tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q -- "-f $DIR/$d/chrony.conf"; then
      kill "$pid"
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    fi
  done
}
trap stop EXIT
for d in a b c e; do "$CHRONYD" -x -f "$DIR/$d/chrony.conf" -l "$DIR/$d/chronyd.log"; done
sleep "$SETTLE"
# An NTP client of C, so that serverstats and clients count something.
timeout 30 "$CHRONYD" -Q -x -t 5 "server 127.0.0.1 port $PC iburst" "pidfile $DIR/q.pid" "cmdport 0" \
  "bindcmdaddress /" >/dev/null 2>&1 || true

SOCK="$DIR/c/chronyd.sock"
# cap NAME CHRONYC-ARGS...: the exchanges of one chronyc run (-n everywhere: no DNS look-ups leave
# the machine) and what it printed.
cap() {
  local name=$1; shift
  local rc=0
  strace -f -xx -s 8192 -e trace=sendto,recvfrom -o "$DIR/trace" "$CHRONYC" "$@" > "$OUT/$name.out" 2>&1 || rc=$?
  { echo "# chronyc $* (exit $rc)" | sed "s|$DIR|DIR|g"; python3 "$HERE/strace2hex.py" "$DIR/trace"; } > "$OUT/$name.hex"
}
# cap_session NAME "COMMANDS" CHRONYC-ARGS...: several commands in one chronyc session (stdin), so
# that their values are of the same moment.
cap_session() {
  local name=$1 commands=$2; shift 2
  local rc=0
  printf '%b' "$commands" | strace -f -xx -s 8192 -e trace=sendto,recvfrom -o "$DIR/trace" "$CHRONYC" "$@" \
    > "$OUT/$name.out" 2>&1 || rc=$?
  { echo "# chronyc $* <<< $(printf '%b' "$commands" | tr '\n' ';') (exit $rc)" | sed "s|$DIR|DIR|g"
    python3 "$HERE/strace2hex.py" "$DIR/trace"; } > "$OUT/$name.hex"
}
U=(-h "$SOCK")
I=(-h 127.0.0.1 -p $CMDPORT)
# The reports and the monitoring commands, on the Unix socket and over UDP.
reports() {
  cap sources "${U[@]}" -n sources
  cap sources-v "${U[@]}" -n sources -v
  cap sources-N "${U[@]}" -N sources
  cap sourcestats "${U[@]}" -n sourcestats
  cap sourcestats-v "${U[@]}" -n sourcestats -v
  cap tracking "${U[@]}" -n tracking
  cap activity "${U[@]}" activity
  cap ntpdata "${U[@]}" -n ntpdata
  cap ntpdata-one "${U[@]}" -n ntpdata 127.0.0.2
  cap ntpdata-unknown "${U[@]}" -n ntpdata 127.0.0.9
  cap serverstats "${U[@]}" serverstats
  cap clients "${U[@]}" -n clients
  cap sourcename "${U[@]}" sourcename 127.0.0.2
  cap sourcename-unknown "${U[@]}" sourcename 127.0.0.9
  cap authdata "${U[@]}" -n authdata
  cap selectdata "${U[@]}" -n selectdata
  cap smoothing "${U[@]}" smoothing
  cap rtcdata "${U[@]}" rtcdata
  cap manual-list "${U[@]}" manual list
  cap waitsync "${U[@]}" waitsync 1
  cap burst "${U[@]}" burst 4/8
  cap burst-one "${U[@]}" burst 2/4 127.0.0.2
  cap makestep "${U[@]}" makestep
  cap offline "${U[@]}" offline 127.0.0.2
  cap online "${U[@]}" online
  cap reselect "${U[@]}" reselect
  cap_session sources-ntpdata 'sources\nntpdata 127.0.0.2\nsourcestats\n' "${U[@]}" -n
  cap tracking-local -h "$DIR/a/chronyd.sock" -n tracking
  cap tracking-unsynchronised -h "$DIR/e/chronyd.sock" -n tracking
  cap sources-none -h "$DIR/e/chronyd.sock" -n sources
  cap tracking-csv "${U[@]}" -c -n tracking
  cap sources-csv "${U[@]}" -c -n sources
  cap udp-tracking "${I[@]}" -n tracking
  cap udp-sources "${I[@]}" -n sources
  cap udp-sourcestats "${I[@]}" -n sourcestats
  cap udp-activity "${I[@]}" activity
  cap udp-sources-N "${I[@]}" -N sources
  cap udp6-tracking -h ::1 -p $CMDPORT -n tracking
  cap udp-serverstats "${I[@]}" serverstats
  cap udp-ntpdata "${I[@]}" -n ntpdata 127.0.0.2
  cap udp-clients "${I[@]}" -n clients
  cap udp-burst "${I[@]}" burst 4/8
  cap udp-makestep "${I[@]}" makestep
  cap udp-online "${I[@]}" online
  cap udp-reselect "${I[@]}" reselect
}
# The command table, from E (every command carried out once with an all-zero body).
table() {
  from=0
  : > "$OUT/commands.txt"
  while :; do
    rc=0
    python3 "$HERE/commands.py" "$DIR/e/chronyd.sock" $CMDPORT_E "$from" >> "$OUT/commands.txt" || rc=$?
    [ "$rc" = 3 ] || break
    from=$(( $(tail -1 "$OUT/commands.txt" | cut -d' ' -f1) + 1 ))
    "$CHRONYD" -x -f "$DIR/e/chrony.conf" -l "$DIR/e/chronyd.log"
    for _ in $(seq 1 50); do [ -S "$DIR/e/chronyd.sock" ] && break; sleep 0.1; done
  done
}
# The commands that act on C, each with the values that show where its fields lie, then what C
# reports after them; `shutdown` last.
actions() {
  local add=(add server 127.0.0.4 port 31128 minpoll 1 maxpoll 9 presend 3 minstratum 2 polltarget 7
    version 3 maxsources 5 minsamples 4 maxsamples 11 maxdelay 0.5 maxdelayratio 2.5
    maxdelaydevratio 3.5 mindelay 0.001 asymmetry 0.25 offset 0.125 filter 3 iburst burst prefer
    trust require noselect xleave extfield F323)
  cap add-server "${U[@]}" "${add[@]}"
  cap add-server-again "${U[@]}" "${add[@]}"
  cap add-server-plain "${U[@]}" add server 127.0.0.5 port 31129
  cap add-pool "${U[@]}" add pool 127.0.0.6 port 31130 maxsources 2
  cap add-peer "${U[@]}" add peer 127.0.0.7 port 31131 minpoll 4
  cap add-ipv6 "${U[@]}" add server ::2 port 31132
  cap sources-added "${U[@]}" -n sources -a
  cap delete "${U[@]}" delete 127.0.0.5
  cap delete-unknown "${U[@]}" delete 127.0.0.9
  cap minpoll "${U[@]}" minpoll 127.0.0.2 3
  cap maxpoll "${U[@]}" maxpoll 127.0.0.2 5
  cap maxdelay "${U[@]}" maxdelay 127.0.0.2 0.25
  cap maxdelayratio "${U[@]}" maxdelayratio 127.0.0.2 2.5
  cap maxdelaydevratio "${U[@]}" maxdelaydevratio 127.0.0.2 3.5
  cap minstratum "${U[@]}" minstratum 127.0.0.2 3
  cap polltarget "${U[@]}" polltarget 127.0.0.2 9
  cap minpoll-unknown "${U[@]}" minpoll 127.0.0.9 3
  cap maxupdateskew "${U[@]}" maxupdateskew 50
  cap reselectdist "${U[@]}" reselectdist 0.002
  cap makestep-limits "${U[@]}" makestep 0.5 3
  cap allow "${U[@]}" allow 127.0.0.5
  cap allow-all "${U[@]}" allow all 127.1.0.0/16
  cap deny "${U[@]}" deny 127.0.0.6
  cap deny-all "${U[@]}" deny all 127.2.0.0/16
  cap allow-everything "${U[@]}" allow
  cap accheck "${U[@]}" accheck 127.0.0.5
  cap accheck-denied "${U[@]}" accheck 127.0.0.6
  cap cmdallow "${U[@]}" cmdallow 127.0.0.5
  cap cmddeny "${U[@]}" cmddeny 127.0.0.6
  cap cmdaccheck "${U[@]}" cmdaccheck 127.0.0.5
  cap cmdaccheck-denied "${U[@]}" cmdaccheck 127.0.0.6
  cap local "${U[@]}" local stratum 5 distance 2 orphan
  cap local-tracking "${U[@]}" -n tracking
  cap local-off "${U[@]}" local off
  cap manual-on "${U[@]}" manual on
  cap settime "${U[@]}" settime 12:00:00
  cap manual-reset "${U[@]}" manual reset
  cap manual-off "${U[@]}" manual off
  cap settime-off "${U[@]}" settime 12:00:00
  cap smoothtime "${U[@]}" smoothtime reset
  cap refresh "${U[@]}" refresh
  cap onoffline "${U[@]}" onoffline
  cap reload-sources "${U[@]}" reload sources
  cap reset-sources "${U[@]}" reset sources
  cap dump "${U[@]}" dump
  cap rekey "${U[@]}" rekey
  cap cyclelogs "${U[@]}" cyclelogs
  cap writertc "${U[@]}" writertc
  cap trimrtc "${U[@]}" trimrtc
  cap udp-add "${I[@]}" add server 127.0.0.8
  cap udp-allow "${I[@]}" allow 127.0.0.8
  cap udp-local "${I[@]}" local off
  cap selectdata-after "${U[@]}" -n selectdata -a
  cap shutdown "${U[@]}" shutdown
}
# A later chronyc: its reports and monitoring commands, the commands it added, and its command
# table.
version() {
  reports
  cap selectdata-a "${U[@]}" -n selectdata -a -v
  cap selectopts "${U[@]}" selectopts 127.0.0.2 +trust -noselect
  cap offset "${U[@]}" offset 127.0.0.2 0.125
  cap local "${U[@]}" local stratum 5 distance 2 orphan
  cap local-off "${U[@]}" local off
  cap serverstats-after "${U[@]}" serverstats
  cap shutdown "${U[@]}" shutdown
  table
}
case $SET in
  monitor) reports; python3 "$HERE/probe.py" "$SOCK" $CMDPORT > "$OUT/probes.txt"; table ;;
  actions) actions ;;
  version) version ;;
esac
if grep -l "Cannot talk to daemon" "$OUT"/*.out; then echo "chronyd left requests unanswered" >&2; exit 1; fi
echo "captured into $OUT"
