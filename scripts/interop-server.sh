#!/bin/bash
# interop-server.sh install|test|bench  -- ntpkit's server beside Debian's chrony, on loopback only.
#
#   install  install Debian's chrony (its service kept from starting) and ntpsec-ntpdig if missing
#            (scripts/install-peers.sh)
#   test     install, then run the interop tests (tests/interop_server.rs) against chronyd and ntpdig
#   bench    install, then measure ntpkit's server (1 thread, every check on) beside chronyd -x and
#            the floor (tools/floor.c, a responder with no checks) with tools/ntpload.c: responses/s
#            and server CPU µs per response, ROUNDS (3) rounds of DURATION (5) s runs. ntpkit runs
#            twice: without command sockets, and with chronyc's sockets open (a Unix socket and a
#            UDP cmdport, idle: "ntpkit+cmd"), to show what answering chronyc costs the NTP path
#
# Never touches the system clock: chronyd always runs with -x and drops to user _chrony; ntpdig is
# never given -s/-S. Stops only the processes it started (by PID). Needs root (apt, _chrony dirs,
# port 123 for ntpdig).
set -euo pipefail
cd "$(dirname "$0")/.."
# The run's files: WORK if given (kept), else a folder of its own, removed
# on the way out.
if [ -n "${WORK:-}" ]; then
  KEEP_WORK=1
else
  KEEP_WORK=
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/ntpkit-server-interop.XXXXXX")
  chmod 755 "$WORK"   # chronyd (user _chrony) reaches its files below
fi
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
CHRONY_PORT=${CHRONY_PORT:-}
OURS_PORT=${OURS_PORT:-}
FLOOR_PORT=${FLOOR_PORT:-}
STARTED=()

cleanup() {
  local pid
  for pid in "${STARTED[@]:-}"; do
    [ -n "$pid" ] || continue
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  done
  [ -n "$KEEP_WORK" ] || rm -rf "$WORK"
}
trap cleanup EXIT

install_tools() { bash scripts/install-peers.sh; }

# start_chronyd PORT: a loopback chronyd server (local stratum 8) with -x, as user _chrony, started
# by scripts/chrony-peer.sh; prints its PID.
start_chronyd() {
  local dir="$WORK/chronyd-$1"
  install -d -m 0755 "$WORK"
  PEER_DIR="$dir" PEER_PORT=$1 scripts/chrony-peer.sh start >&2
  cat "$dir/chronyd.pid"
}

# CPU time of every thread of PID, in ns (sum_exec_runtime: exact, unlike tick-sampled utime/stime).
# It is brought up to date when a thread sleeps, so read it only while the server is idle.
# A UDP port nothing listens on (chronyd sets SO_REUSEPORT: a second one on a busy port would
# silently share the load with the first).
free_port() {
  local port
  command -v ss >/dev/null || { echo "$1"; return 0; }   # no iproute2: take the first and hope
  for port in $(seq "$1" $(($1 + 99))); do
    ss -Huln "sport = :$port" | grep -q . || { echo "$port"; return 0; }
  done
  echo "no free UDP port from $1" >&2; return 1
}

cpu_ns() { cat /proc/"$1"/task/*/schedstat | awk '{ s += $1 } END { printf "%.0f\n", s }'; }

# measure NAME PID PORT: one ntpload run; prints "NAME rate us_per_response invalid lost"
measure() {
  local name=$1 pid=$2 port=$3 before after out rate valid invalid lost
  [ -r "/proc/$pid/schedstat" ] || { echo "measure: no process $pid ($name)" >&2; return 1; }
  sleep 0.3
  before=$(cpu_ns "$pid")
  out=$(target/ntpload 127.0.0.1 "$port" "$DURATION" 64 4)
  sleep 0.3
  after=$(cpu_ns "$pid")
  rate=$(sed -n 's/^rate=\([0-9]*\) .*/\1/p' <<<"$out")
  valid=$(sed -n 's/.* valid=\([0-9]*\) .*/\1/p' <<<"$out")
  invalid=$(sed -n 's/.* invalid=\([0-9]*\) .*/\1/p' <<<"$out")
  lost=$(sed -n 's/.* lost=\([0-9]*\) .*/\1/p' <<<"$out")
  awk -v n="$name" -v r="$rate" -v v="$valid" -v t=$((after - before)) -v i="$invalid" -v l="$lost" \
    'BEGIN { printf "%s %d %.2f %d %d\n", n, r, (v > 0 ? t / 1e3 / v : 0), i, l }'
}

bench() {
  cargo build --release --example server >/dev/null 2>&1
  gcc -O2 -Wall -o target/ntpload tools/ntpload.c
  gcc -O2 -Wall -o target/floor tools/floor.c
  install -d -m 0755 "$WORK"
  local chrony_pid ours_pid cmd_pid floor_pid results="$WORK/bench.txt"
  CHRONY_PORT=${CHRONY_PORT:-$(free_port 11300)}
  OURS_PORT=${OURS_PORT:-$(free_port 11400)}
  FLOOR_PORT=${FLOOR_PORT:-$(free_port 11500)}
  chrony_pid=$(start_chronyd "$CHRONY_PORT"); STARTED+=("$chrony_pid")
  CMD_PORT=${CMD_PORT:-$(free_port 11600)}
  CMD_NTP_PORT=${CMD_NTP_PORT:-$(free_port 11700)}
  { sed "s/^port .*/port $OURS_PORT/" tests/data/bench-server.conf
    printf 'cmdport 0\nbindcmdaddress /\n'; } > "$WORK/ours.conf"
  { sed "s/^port .*/port $CMD_NTP_PORT/" tests/data/bench-server.conf
    printf 'cmdport %s\nbindcmdaddress %s\n' "$CMD_PORT" "$WORK/cmd/ntpkit.sock"; } > "$WORK/ours-cmd.conf"
  target/release/examples/server -f "$WORK/ours.conf" --threads 1 > "$WORK/ours.log" 2>&1 &
  ours_pid=$!; STARTED+=("$ours_pid")
  target/release/examples/server -f "$WORK/ours-cmd.conf" --threads 1 > "$WORK/ours-cmd.log" 2>&1 &
  cmd_pid=$!; STARTED+=("$cmd_pid")
  target/floor "$FLOOR_PORT" 600 &
  floor_pid=$!; STARTED+=("$floor_pid")
  sleep 1
  kill -0 "$ours_pid" || { cat "$WORK/ours.log" >&2; return 1; }
  kill -0 "$cmd_pid" || { cat "$WORK/ours-cmd.log" >&2; return 1; }
  chronyc -h "$WORK/cmd/ntpkit.sock" -n tracking >/dev/null   # the command socket is open and answers
  echo "chronyd $(chronyd -v | head -1) pid $chrony_pid on :$CHRONY_PORT; ntpkit pid $ours_pid on :$OURS_PORT; floor pid $floor_pid on :$FLOOR_PORT"
  echo "server responses/s cpu_us_per_response invalid lost  (ntpload: 1 socket, 64 in flight, ${DURATION}s)"
  : > "$results"
  for round in $(seq 1 "$ROUNDS"); do
    measure chronyd "$chrony_pid" "$CHRONY_PORT" | tee -a "$results"
    measure ntpkit "$ours_pid" "$OURS_PORT" | tee -a "$results"
    measure ntpkit+cmd "$cmd_pid" "$CMD_NTP_PORT" | tee -a "$results"
    measure floor "$floor_pid" "$FLOOR_PORT" | tee -a "$results"
  done
  awk '
    { n[$1]++; r[$1] += $2; rr[$1] += $2 * $2; c[$1] += $3; cc[$1] += $3 * $3 }
    $1 == "chronyd" { last = $2 } $1 == "ntpkit" && last > 0 { ratio[++k] = $2 / last; ours = $3 }
    $1 == "ntpkit+cmd" && ours_rate > 0 { cmd[++q] = $2 / ours_rate; cmdcpu[q] = $3 / ours }
    $1 == "ntpkit" { ours_rate = $2 }
    $1 == "floor" && $3 > 0 { cpu[++m] = ours / $3 }
    END {
      for (s in n) {
        mr = r[s] / n[s]; mc = c[s] / n[s]
        printf "%s: %.0f ± %.0f responses/s, %.2f ± %.2f µs CPU/response (%d runs)\n", s, mr,
          sqrt(rr[s] / n[s] - mr * mr), mc, sqrt(cc[s] / n[s] - mc * mc), n[s]
      }
      line = "ntpkit/chronyd responses/s per round:"; for (i = 1; i <= k; i++) line = line sprintf(" %.2f", ratio[i])
      print line
      line = "ntpkit+cmd/ntpkit responses/s per round:"; for (i = 1; i <= q; i++) line = line sprintf(" %.3f", cmd[i])
      print line
      line = "ntpkit+cmd/ntpkit CPU per response per round:"; for (i = 1; i <= q; i++) line = line sprintf(" %.3f", cmdcpu[i])
      print line
      line = "ntpkit/floor CPU per response per round:"; for (i = 1; i <= m; i++) line = line sprintf(" %.2f", cpu[i])
      print line
    }' "$results"
}

case "${1:-}" in
  install) install_tools ;;
  test)
    install_tools
    # `cargo test --test` builds no examples: build the ones the tests run first.
    cargo build --release --examples
    # --include-ignored: the tests that need chronyd, ntpdig or root are #[ignore]d.
    cargo test --release --test interop_server -- --include-ignored --test-threads=1 --nocapture
    ;;
  bench) install_tools; bench ;;
  *) echo "usage: $0 install|test|bench" >&2; exit 2 ;;
esac
