#!/usr/bin/env bash
# Interop on loopback with Debian's chronyd (always -x: it never touches the clock).
#   1. our client follows chronyd (minpoll -2 maxpoll 0): ^* within 15 s, reach growing,
#      offsets within 1 ms over 60 s                        (tests/interop.rs)
#   2. our client follows our server, the same way           (tests/interop.rs)
#   3. chronyd (-x) follows our server: ^* within 15 s, then 30 s with offsets within 1 ms;
#      and chronyd (-x -Q) measures it once
#   4. chronyd (-x) follows our serving node (examples/client, then examples/server, following our
#      server and serving)
#   5. the README's walk-through: examples/server + examples/client, `--ctl sources` shows ^*
# Installs chrony when missing (scripts/install-peers.sh: service starts are blocked during install).
# Stops only the processes it started, by PID. Run from anywhere: scripts/interop.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ntpkit-interop.XXXXXX")
chmod 755 "$WORK"   # chronyd (user _chrony) needs to reach its directory below
export PEER_DIR="$WORK/chrony" PEER_PORT=11124
FOLLOW_DIR="$WORK/chrony-follow"
SERVER_PORT=11123
BIN=${CARGO_TARGET_DIR:-target}/release/examples
PIDS=()

cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  scripts/chrony-peer.sh stop || true
  PEER_DIR="$FOLLOW_DIR" scripts/chrony-peer.sh stop || true
  rm -rf "$WORK"
}
trap cleanup EXIT

step() { printf '\n=== interop: %s\n' "$*"; }

if [ "$(id -u)" != 0 ] && ! command -v chronyd >/dev/null; then
  echo "interop: skipped: chronyd is not installed and installing it needs root"
  exit 0
fi

step "build"
cargo build --release --examples --quiet

step "start chronyd -x on 127.0.0.1:$PEER_PORT"
scripts/chrony-peer.sh start

step "start our server on 127.0.0.1:$SERVER_PORT"
"$BIN"/server -f tests/data/loopback-server.conf --port "$SERVER_PORT" \
  >"$WORK/server.log" 2>&1 &
PIDS+=($!)
sleep 0.5
kill -0 "${PIDS[-1]}" || { cat "$WORK/server.log"; exit 1; }

step "our client follows chronyd, and our server (60 s each, in parallel)"
NTPKIT_INTEROP_CHRONYD_PORT=$PEER_PORT NTPKIT_INTEROP_SERVER_PORT=$SERVER_PORT \
  cargo test --release --quiet --test interop -- --ignored --nocapture

step "chronyd (-x) follows our server"
PEER_DIR="$FOLLOW_DIR" scripts/chrony-peer.sh follow 127.0.0.1 "$SERVER_PORT"
chronyc_follow() { chronyc -h "$FOLLOW_DIR/chronyd.sock" "$@"; }
for i in $(seq 1 150); do
  chronyc_follow -n sources | grep -q '^\^\*' && break
  [ "$i" = 150 ] && { chronyc_follow -n sources; echo "chronyd did not select our server within 15 s" >&2; exit 1; }
  sleep 0.1
done
echo "chronyd selected our server after $((i / 10)).$((i % 10)) s"
for _ in $(seq 1 6); do
  sleep 5
  # -c sources: mode,state,name,stratum,poll,reach,lastrx,offset,measured,error
  chronyc_follow -c sources | awk -F, '{ print "  state " $2 " reach " $6 " offset " $8 " s";
    if ($2 != "*" || $8 > 1e-3 || $8 < -1e-3) bad = 1 } END { exit bad }'
done
chronyc_follow -n sources
chronyc_follow -n sourcestats
PEER_DIR="$FOLLOW_DIR" scripts/chrony-peer.sh stop

mkdir -p "$WORK/node"
cat >"$WORK/node.conf" <<CONF
server 127.0.0.1 port $SERVER_PORT minpoll -2 maxpoll 0 iburst
allow 127.0.0.1
port 11125
bindaddress 127.0.0.1
local stratum 10
bindcmdaddress $WORK/node/ntpkit.sock
CONF
# The serving node is examples/client (following and serving), then examples/server (server lines
# make it a client too): the same config for both.
for node in client server; do
  step "chronyd (-x) follows our serving node ($node), which follows our server"
  "$BIN"/$node -f "$WORK/node.conf" >"$WORK/node.log" 2>&1 &
  node_pid=$!
  PIDS+=($node_pid)
  PEER_DIR="$FOLLOW_DIR" scripts/chrony-peer.sh follow 127.0.0.1 11125
  for i in $(seq 1 150); do
    chronyc_follow -n sources | grep -q '^\^\*' && break
    [ "$i" = 150 ] && { chronyc_follow -n sources; cat "$WORK/node.log"; echo "chronyd did not select our serving node within 15 s" >&2; exit 1; }
    sleep 0.1
  done
  sleep 3
  chronyc_follow -n sources
  "$BIN"/client -f "$WORK/node.conf" --ctl sources
  # our server is stratum 10, so the serving node is 11
  chronyc_follow -c sources | awk -F, '{ if ($2 != "*" || $4 != 11 || $8 > 1e-3 || $8 < -1e-3) bad = 1 } END { exit bad }'
  PEER_DIR="$FOLLOW_DIR" scripts/chrony-peer.sh stop
  kill "$node_pid"; wait "$node_pid" 2>/dev/null || true
done

step "chronyd (-x -Q) measures our server"
scripts/chrony-peer.sh query 127.0.0.1 "$SERVER_PORT" 10 2>&1 | tee "$WORK/query.log"
grep -q "System clock wrong by" "$WORK/query.log"

step "README walk-through: examples/client follows examples/server, asked with --ctl"
sed "s#/tmp/ntpkit-client#$WORK/client#" tests/data/loopback-client.conf >"$WORK/client.conf"
"$BIN"/client -f "$WORK/client.conf" >"$WORK/client.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 1 150); do
  if "$BIN"/client -f "$WORK/client.conf" --ctl sources 2>/dev/null | grep -q '^\^\*'; then
    break
  fi
  sleep 0.1
done
"$BIN"/client -f "$WORK/client.conf" --ctl sources -v
"$BIN"/client -f "$WORK/client.conf" --ctl tracking
"$BIN"/client -f "$WORK/client.conf" --ctl sources | grep -q '^\^\* 127.0.0.1'
"$BIN"/client -f "$WORK/client.conf" --ctl timedatectl | grep -qx 'NTP synchronized: yes'
"$BIN"/client -f "$WORK/client.conf" -Q --timeout 10
printf 'server 127.0.0.1 port 9 iburst\n' >"$WORK/nobody.conf"   # discard port: no answer
if "$BIN"/client -f "$WORK/nobody.conf" -Q --timeout 3; then
  echo "client -Q succeeded without a server" >&2; exit 1
fi

step "passed"
