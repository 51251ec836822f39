#!/bin/bash
# capture.sh -- record chronyc 4.3 <-> chronyd 4.3 command exchanges on loopback (tests/cmdmon/README.md).
# Needs root (chronyd drops to _chrony), Debian's chrony 4.3, strace and python3. Never touches the
# clock: every chronyd runs with -x. Everything listens on loopback only.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
DIR=${CAP_DIR:-/tmp/ntpkit-cmdmon-capture}
OUT=${OUT:-$HERE/captures}
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
for d in a b c e; do chronyd -x -f "$DIR/$d/chrony.conf" -l "$DIR/$d/chronyd.log"; done
sleep "$SETTLE"
# An NTP client of C, so that serverstats and clients count something.
timeout 30 chronyd -Q -x -t 5 "server 127.0.0.1 port $PC iburst" "pidfile $DIR/q.pid" "cmdport 0" \
  "bindcmdaddress /" >/dev/null 2>&1 || true

SOCK="$DIR/c/chronyd.sock"
# cap NAME CHRONYC-ARGS...: the exchanges of one chronyc run (-n everywhere: no DNS look-ups leave
# the machine) and what it printed.
cap() {
  local name=$1; shift
  local rc=0
  strace -f -xx -s 8192 -e trace=sendto,recvfrom -o "$DIR/trace" chronyc "$@" > "$OUT/$name.out" 2>&1 || rc=$?
  { echo "# chronyc $* (exit $rc)" | sed "s|$DIR|DIR|g"; python3 "$HERE/strace2hex.py" "$DIR/trace"; } > "$OUT/$name.hex"
}
# cap_session NAME "COMMANDS" CHRONYC-ARGS...: several commands in one chronyc session (stdin), so
# that their values are of the same moment.
cap_session() {
  local name=$1 commands=$2; shift 2
  local rc=0
  printf '%b' "$commands" | strace -f -xx -s 8192 -e trace=sendto,recvfrom -o "$DIR/trace" chronyc "$@" \
    > "$OUT/$name.out" 2>&1 || rc=$?
  { echo "# chronyc $* <<< $(printf '%b' "$commands" | tr '\n' ';') (exit $rc)" | sed "s|$DIR|DIR|g"
    python3 "$HERE/strace2hex.py" "$DIR/trace"; } > "$OUT/$name.hex"
}
U=(-h "$SOCK")
I=(-h 127.0.0.1 -p $CMDPORT)
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
if grep -l "Cannot talk to daemon" "$OUT"/*.out; then echo "chronyd left requests unanswered" >&2; exit 1; fi
python3 "$HERE/probe.py" "$SOCK" $CMDPORT > "$OUT/probes.txt"
# The command table, from E (every command carried out once with an all-zero body).
from=0
: > "$OUT/commands.txt"
while :; do
  rc=0
  python3 "$HERE/commands.py" "$DIR/e/chronyd.sock" $CMDPORT_E "$from" >> "$OUT/commands.txt" || rc=$?
  [ "$rc" = 3 ] || break
  from=$(( $(tail -1 "$OUT/commands.txt" | cut -d' ' -f1) + 1 ))
  chronyd -x -f "$DIR/e/chrony.conf" -l "$DIR/e/chronyd.log"
  for _ in $(seq 1 50); do [ -S "$DIR/e/chronyd.sock" ] && break; sleep 0.1; done
done
echo "captured into $OUT"
