#!/usr/bin/env bash
# Interop on loopback with Debian's chronyd (always -x: it never touches the clock).
#   1. our client follows chronyd (minpoll -2 maxpoll 0): ^* within 15 s, reach growing,
#      offsets within 1 ms over 60 s                        (tests/interop.rs)
#   2. our client follows our server, the same way           (tests/interop.rs)
#   3. chronyd (-x) follows our server: ^* within 15 s, then 30 s with offsets within 1 ms;
#      and chronyd (-x -Q) measures it once
#   4. chronyd (-x) follows our serving node (examples/client, then examples/server, following our
#      server and serving)
#   5. the kubeasz pair, checked with Debian's chronyc 4.3: our serving node (examples/server with
#      kubeasz's server config, upstreams redirected to the chronyd above) and our client (kubeasz's
#      client config, following the node). Against each daemon `chronyc sources -v`,
#      `sourcestats -v`, `tracking`, `activity`, `ntpdata` and `serverstats` exit 0; `sources`,
#      `sourcestats` and `tracking` agree with our own `--ctl` report of the same moment (sources
#      offline: each of our numbers lies between two chronyc readings around it); `chronyc -h
#      127.0.0.1 -p PORT tracking` works over UDP; the log files have lines
#   6. the README's walk-through: examples/server + examples/client, asked with plain chronyc
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
SERVING_PORT=11127 NODE_PORT=11125 NODE_CMDPORT=11323 MEMBER_PORT=11126
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

# wait_selected SOCKET LOG: chronyc shows a selected source (^*) within 15 s, else the log and fail.
wait_selected() {
  for _ in $(seq 1 150); do
    chronyc -h "$1" -n sources 2>/dev/null | grep -q '^\^\*' && return 0
    sleep 0.1
  done
  chronyc -h "$1" -n sources || true
  cat "$2"
  echo "no source selected within 15 s ($1)" >&2
  return 1
}

# agree BEFORE OURS AFTER WHAT: our report has chronyc's layout (the same lines and words), and
# each of our words is one of chronyc's two, or a number between them in the same unit.
agree() {
  awk -v what="$4" '
    function split_num(w, parts) {   # sign, digits, unit of a word such as +713ns[ or 0.000030518
      if (match(w, /[-+]?[0-9]+(\.[0-9]+)?/) == 0) return 0
      parts["n"] = substr(w, RSTART, RLENGTH) + 0
      parts["pre"] = substr(w, 1, RSTART - 1); parts["post"] = substr(w, RSTART + RLENGTH)
      return 1
    }
    FILENAME == ARGV[1] { a[FNR] = $0; na = FNR; next }
    FILENAME == ARGV[2] { o[FNR] = $0; no = FNR; next }
    { b[FNR] = $0; nb = FNR }
    END {
      if (na != no || nb != no) { printf "%s: %d/%d/%d lines\n", what, na, no, nb; exit 1 }
      for (i = 1; i <= no; i++) {
        if (o[i] == a[i] || o[i] == b[i]) continue
        n = split(o[i], ow, " "); if (split(a[i], aw, " ") != n || split(b[i], bw, " ") != n) {
          printf "%s: line %d differs in layout:\n  chronyc: %s\n  ours:    %s\n", what, i, a[i], o[i]; exit 1
        }
        for (j = 1; j <= n; j++) {
          if (ow[j] == aw[j] || ow[j] == bw[j]) continue
          if (!split_num(ow[j], po) || !split_num(aw[j], pa) || !split_num(bw[j], pb) ||
              po["pre"] po["post"] != pa["pre"] pa["post"] || pa["pre"] pa["post"] != pb["pre"] pb["post"] ||
              po["n"] < (pa["n"] < pb["n"] ? pa["n"] : pb["n"]) || po["n"] > (pa["n"] > pb["n"] ? pa["n"] : pb["n"])) {
            printf "%s: line %d word %d: ours %s, chronyc %s then %s\n", what, i, j, ow[j], aw[j], bw[j]; exit 1
          }
        }
      }
      printf "%s: %d lines agree with chronyc\n", what, no
    }' "$1" "$2" "$3"
}

if [ "$(id -u)" != 0 ] && ! command -v chronyd >/dev/null; then
  echo "interop: skipped: chronyd is not installed and installing it needs root"
  exit 0
fi

step "build"
cargo build --release --examples --quiet

step "start chronyd -x on 127.0.0.1:$PEER_PORT"
scripts/chrony-peer.sh start

step "start our server on 127.0.0.1:$SERVER_PORT"
# The example configuration, with its command socket in this run's folder
# (not /tmp/ntpkit-server, which would outlive the run).
sed "s|/tmp/ntpkit-server/|$WORK/server-cmd/|" tests/data/loopback-server.conf >"$WORK/server.conf"
"$BIN"/server -f "$WORK/server.conf" --port "$SERVER_PORT" \
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

cat >"$WORK/serving.conf" <<CONF
server 127.0.0.1 port $SERVER_PORT minpoll -2 maxpoll 0 iburst
allow 127.0.0.1
port $SERVING_PORT
bindaddress 127.0.0.1
local stratum 10
cmdport 0
bindcmdaddress $WORK/serving/cmd/ntpkit.sock
CONF
# The serving node is examples/client (following and serving), then examples/server (server lines
# make it a client too): the same config for both.
for node in client server; do
  step "chronyd (-x) follows our serving node ($node), which follows our server"
  if [ "$node" = client ]; then fg=-d; else fg=; fi
  "$BIN"/$node $fg -f "$WORK/serving.conf" >"$WORK/serving.log" 2>&1 &
  node_pid=$!
  PIDS+=($node_pid)
  PEER_DIR="$FOLLOW_DIR" scripts/chrony-peer.sh follow 127.0.0.1 "$SERVING_PORT"
  for i in $(seq 1 150); do
    chronyc_follow -n sources | grep -q '^\^\*' && break
    [ "$i" = 150 ] && { chronyc_follow -n sources; cat "$WORK/serving.log"; echo "chronyd did not select our serving node within 15 s" >&2; exit 1; }
    sleep 0.1
  done
  sleep 3
  chronyc_follow -n sources
  "$BIN"/client -f "$WORK/serving.conf" --ctl sources
  # our server is stratum 10, so the serving node is 11
  chronyc_follow -c sources | awk -F, '{ if ($2 != "*" || $4 != 11 || $8 > 1e-3 || $8 < -1e-3) bad = 1 } END { exit bad }'
  PEER_DIR="$FOLLOW_DIR" scripts/chrony-peer.sh stop
  kill "$node_pid"; wait "$node_pid" 2>/dev/null || true
done

step "the kubeasz pair: kubeasz's server config (our serving node) and client config (our client)"
mkdir -p "$WORK/node" "$WORK/member"
# Upstreams redirected to the chronyd above (IPv4 and IPv6; no pool on loopback), polling fast.
sed -e "s/^server ntp1.aliyun.com iburst/server 127.0.0.1 port $PEER_PORT iburst minpoll -2 maxpoll 0/" \
    -e "s/^server time1.cloud.tencent.com iburst/server ::1 port $PEER_PORT iburst minpoll -2 maxpoll 0/" \
    -e "s/^pool /#pool /" -e "s#/var/lib/chrony#$WORK/node#" -e "s#/var/log/chrony#$WORK/node/log#" \
    tests/data/kubeasz-server.conf >"$WORK/node.conf"
printf 'port %s\nbindaddress 127.0.0.1\ncmdport %s\nbindcmdaddress %s\n' \
  "$NODE_PORT" "$NODE_CMDPORT" "$WORK/node/cmd/ntpkit.sock" >>"$WORK/node.conf"
sed -e "s/^server .*/server 127.0.0.1 port $NODE_PORT iburst minpoll -2 maxpoll 0/" \
    -e "s#/var/lib/chrony#$WORK/member#" -e "s#/var/log/chrony#$WORK/member/log#" \
    tests/data/kubeasz-client.conf >"$WORK/member.conf"
printf 'port %s\nbindaddress 127.0.0.1\ncmdport 0\nbindcmdaddress %s\n' \
  "$MEMBER_PORT" "$WORK/member/cmd/ntpkit.sock" >>"$WORK/member.conf"
"$BIN"/server -f "$WORK/node.conf" >"$WORK/node.log" 2>&1 &
PIDS+=($!)
"$BIN"/client -d -f "$WORK/member.conf" >"$WORK/member.log" 2>&1 &
PIDS+=($!)
wait_selected "$WORK/node/cmd/ntpkit.sock" "$WORK/node.log"
wait_selected "$WORK/member/cmd/ntpkit.sock" "$WORK/member.log"
sleep 5   # a few more samples: sourcestats has something to show
for daemon in node:server member:client; do
  name=${daemon%%:*} program=${daemon#*:}
  sock="$WORK/$name/cmd/ntpkit.sock"
  for report in "sources -v" "sourcestats -v" tracking activity ntpdata serverstats; do
    echo "--- chronyc $report ($name: examples/$program)"
    # shellcheck disable=SC2086
    chronyc -h "$sock" $report
  done
  # The same moment: sources offline (no new samples), then chronyc, ours, chronyc again.
  chronyc -h "$sock" offline | grep -qx '200 OK'
  chronyc -h "$sock" activity | grep -q '^0 sources online'
  for report in sources sourcestats tracking; do
    chronyc -h "$sock" -n $report >"$WORK/before"
    "$BIN"/client -f "$WORK/$name.conf" --ctl $report >"$WORK/ours"   # our own report (the client example asks for both)
    chronyc -h "$sock" -n $report >"$WORK/after"
    agree "$WORK/before" "$WORK/ours" "$WORK/after" "$name $report"
  done
  chronyc -h "$sock" online | grep -qx '200 OK'
  for log in measurements statistics tracking; do
    lines=$(grep -c '^20' "$WORK/$name/log/$log.log")
    echo "$name: $log.log has $lines lines"
    [ "$lines" -gt 0 ]
  done
done
echo "--- chronyc -h 127.0.0.1 -p $NODE_CMDPORT tracking (UDP)"
chronyc -h 127.0.0.1 -p "$NODE_CMDPORT" tracking
chronyc -h 127.0.0.1 -p "$NODE_CMDPORT" -n sources | grep -q '^\^[*+] '
# The member follows the node, which follows chronyd (stratum 8): 9, then 10.
chronyc -h "$WORK/node/cmd/ntpkit.sock" tracking | grep -qx 'Stratum         : 9'
chronyc -h "$WORK/member/cmd/ntpkit.sock" tracking | grep -qx 'Stratum         : 10'
"$BIN"/client -f "$WORK/member.conf" --ctl timedatectl | grep -qx 'System clock synchronized: yes'

step "chronyd (-x -Q) measures our server"
scripts/chrony-peer.sh query 127.0.0.1 "$SERVER_PORT" 10 2>&1 | tee "$WORK/query.log"
grep -q "System clock wrong by" "$WORK/query.log"

step "README walk-through: examples/client follows examples/server, asked with chronyc"
sed "s#/tmp/ntpkit-client#$WORK/client#" tests/data/loopback-client.conf >"$WORK/client.conf"
"$BIN"/client -d -f "$WORK/client.conf" >"$WORK/client.log" 2>&1 &
PIDS+=($!)
wait_selected "$WORK/client/ntpkit.sock" "$WORK/client.log"
chronyc -h "$WORK/client/ntpkit.sock" sources -v
chronyc -h "$WORK/client/ntpkit.sock" tracking
chronyc -h "$WORK/client/ntpkit.sock" -n sources | grep -q '^\^\* 127.0.0.1'
"$BIN"/client -f "$WORK/client.conf" --ctl timedatectl | grep -qx 'System clock synchronized: yes'
"$BIN"/client -f "$WORK/client.conf" -Q -t 10
printf 'server 127.0.0.1 port 9 iburst\n' >"$WORK/nobody.conf"   # discard port: no answer
if "$BIN"/client -f "$WORK/nobody.conf" -Q -t 3; then
  echo "client -Q succeeded without a server" >&2; exit 1
fi

step "passed"
