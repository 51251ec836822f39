#!/usr/bin/env bash
# memory.sh -- resident memory of examples/client and chronyd 4.3 (-x) following the same server, side by side.
#
#   scripts/memory.sh [SECONDS]     (default 20)
#
# Starts examples/server on 127.0.0.1:11131 (local stratum 10), then examples/client (virtual clock) and chronyd
# (-x, as user _chrony) as its clients, both polling every 0.25-1 s, and after SECONDS prints each one's VmRSS
# and VmHWM from /proc (kB). Loopback only; nothing touches the system clock. Needs chronyd
# (scripts/install-peers.sh) and root (chronyd drops to _chrony).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
seconds=${1:-20}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ntpkit-memory.XXXXXX")
chmod 0755 "$WORK"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  PEER_DIR="$WORK/chronyd" "$repo/scripts/chrony-peer.sh" stop || true
  rm -rf "$WORK"
}
trap cleanup EXIT
command -v chronyd >/dev/null || bash "$repo/scripts/install-peers.sh"
(cd "$repo" && cargo build --release --example server --example client -q)
BIN="$repo/target/release/examples"

cat >"$WORK/server.conf" <<CONF
port 11131
bindaddress 127.0.0.1
allow 127.0.0.1
local stratum 10
cmdport 0
bindcmdaddress $WORK/server/ntpkit.sock
CONF
cat >"$WORK/client.conf" <<CONF
server 127.0.0.1 port 11131 minpoll -2 maxpoll 0 iburst
cmdport 0
bindcmdaddress $WORK/client/ntpkit.sock
CONF
"$BIN/server" -f "$WORK/server.conf" >"$WORK/server.log" 2>&1 & PIDS+=($!)
sleep 0.5
"$BIN/client" -d -f "$WORK/client.conf" >"$WORK/client.log" 2>&1 & client=$!; PIDS+=($client)
PEER_DIR="$WORK/chronyd" "$repo/scripts/chrony-peer.sh" follow 127.0.0.1 11131 >/dev/null
chronyd=$(cat "$WORK/chronyd/chronyd.pid")
sleep "$seconds"
rss() { awk -v who="$1" '/^VmRSS|^VmHWM/{v[$1]=$2} END{printf "%-8s VmRSS %6d kB  VmHWM %6d kB\n", who, v["VmRSS:"], v["VmHWM:"]}' "/proc/$2/status"; }
echo "after ${seconds} s following 127.0.0.1:11131 (polling every 0.25-1 s):"
rss chronyd "$chronyd"
rss ntpkit "$client"
chronyc -h "$WORK/chronyd/chronyd.sock" -n sources | tail -1
chronyc -h "$WORK/client/ntpkit.sock" -n sources | tail -1
