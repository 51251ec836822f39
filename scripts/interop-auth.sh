#!/bin/bash
# interop-auth.sh test|bench  -- authenticated NTP (symmetric keys, NTS) beside Debian's chronyd 4.3, on
# loopback only. Self-contained: certificates are made here (openssl), keys written here.
#
#   test   install chronyd if missing (scripts/install-peers.sh), build the examples, run the
#          interop tests (tests/interop_auth.rs: chronyd follows our NTS and keyed server, our NTS-KE
#          client and session against chronyd's; tests/interop_client_auth.rs: our client follows
#          chronyd with keys and NTS, never a wrong key, an unverified certificate or an altered
#          path), the simulated ones (tests/sim_auth.rs) and the loopback NTS tests (tests/nts.rs)
#   bench  ntpkit's server (1 thread) beside chronyd -x, each with NTS and a SHA256 key, loaded by
#          examples/auth_load (NTS-KE once, then authenticated requests; or NTS-KE handshakes):
#          NTS responses/s, SHA256 responses/s and NTS-KE handshakes/s, with the server's CPU µs per
#          response for the NTP loads; ROUNDS (3) rounds of DURATION (5) s runs, interleaved
#
# Never touches the system clock: chronyd always runs with -x and drops to user _chrony. Stops only
# the processes it started (by PID). Needs root (apt, _chrony-owned directories).
set -euo pipefail
cd "$(dirname "$0")/.."
# The run's files: WORK if given (kept), else a folder of its own, removed
# on the way out.
if [ -n "${WORK:-}" ]; then
  KEEP_WORK=1
else
  KEEP_WORK=
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/ntpkit-auth-interop.XXXXXX")
  chmod 755 "$WORK"   # chronyd (user _chrony) reaches its files below
fi
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5}
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

# A UDP and TCP port nothing listens on, from $1.
free_port() {
  local port
  command -v ss >/dev/null || { echo "$1"; return 0; }
  for port in $(seq "$1" $(($1 + 99))); do
    ss -Htuln "sport = :$port" | grep -q . || { echo "$port"; return 0; }
  done
  echo "no free port from $1" >&2; return 1
}

cpu_ns() { cat /proc/"$1"/task/*/schedstat | awk '{ s += $1 } END { printf "%.0f\n", s }'; }

# A CA and a server certificate for localhost/127.0.0.1 (P-256), readable by _chrony.
make_certs() {
  local d=$WORK/pki
  install -d -m 0755 "$d"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$d/ca.key" \
    -out "$d/ca.pem" -days 30 -subj "/CN=ntpkit bench CA" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout "$d/key.pem" \
    -out "$d/req.csr" -subj "/CN=localhost" 2>/dev/null
  printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n' > "$d/ext.cnf"
  openssl x509 -req -in "$d/req.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial \
    -out "$d/cert.pem" -days 30 -extfile "$d/ext.cnf" 2>/dev/null
  chown _chrony:_chrony "$d/key.pem" "$d/cert.pem"; chmod 0640 "$d/key.pem"
  printf '1 SHA256 HEX:%s\n' "$(openssl rand -hex 32)" > "$WORK/keys"
  chown _chrony:_chrony "$WORK/keys"; chmod 0640 "$WORK/keys"
}

# start_chronyd PORT NTSPORT: chronyd -x serving NTS and the key on loopback; prints its PID.
start_chronyd() {
  local dir="$WORK/chronyd"
  install -d -m 0750 -o _chrony -g _chrony "$dir"
  cat > "$dir/chrony.conf" <<CONF
port $1
bindaddress 127.0.0.1
allow 127.0.0.1
local stratum 8
keyfile $WORK/keys
ntsserverkey $WORK/pki/key.pem
ntsservercert $WORK/pki/cert.pem
ntsport $2
ntsdumpdir $dir
cmdport 0
bindcmdaddress $dir/chronyd.sock
pidfile $dir/chronyd.pid
CONF
  chronyd -x -f "$dir/chrony.conf" -l "$dir/chronyd.log"
  for _ in $(seq 1 50); do
    [ -s "$dir/chronyd.pid" ] && { cat "$dir/chronyd.pid"; return 0; }
    sleep 0.1
  done
  echo "chronyd did not start" >&2; cat "$dir/chronyd.log" >&2; return 1
}

# measure NAME MODE PID ARGS...: one auth_load run; prints "NAME MODE rate cpu_us_per_response invalid lost"
measure() {
  local name=$1 mode=$2 pid=$3 before after out rate valid invalid lost
  shift 3
  sleep 0.3
  before=$(cpu_ns "$pid")
  out=$(target/release/examples/auth_load "$@" --duration "$DURATION")
  sleep 0.3
  after=$(cpu_ns "$pid")
  rate=$(sed -n 's/^rate \([0-9]*\) .*/\1/p' <<<"$out")
  valid=$(sed -n 's/.* valid \([0-9]*\) .*/\1/p; s/.* handshakes \([0-9]*\) .*/\1/p' <<<"$out")
  invalid=$(sed -n 's/.* invalid \([0-9]*\) .*/\1/p; s/.* failed \([0-9]*\)$/\1/p' <<<"$out")
  lost=$(sed -n 's/.* lost \([0-9]*\) .*/\1/p' <<<"$out"); lost=${lost:-0}
  awk -v n="$name" -v m="$mode" -v r="$rate" -v v="$valid" -v t=$((after - before)) -v i="$invalid" -v l="$lost" \
    'BEGIN { printf "%s %s %d %.2f %d %d\n", n, m, r, (v > 0 ? t / 1e3 / v : 0), i, l }'
}

bench() {
  cargo build --release --example server --example auth_load >/dev/null 2>&1
  install -d -m 0755 "$WORK"
  make_certs
  local cport ckport oport okport chrony_pid ours_pid results="$WORK/bench.txt"
  cport=$(free_port 11600); ckport=$(free_port 11700); oport=$(free_port 11800); okport=$(free_port 11900)
  chrony_pid=$(start_chronyd "$cport" "$ckport"); STARTED+=("$chrony_pid")
  cat > "$WORK/ours.conf" <<CONF
port $oport
bindaddress 127.0.0.1
allow 127.0.0.1
local stratum 8
keyfile $WORK/keys
ntsserverkey $WORK/pki/key.pem
ntsservercert $WORK/pki/cert.pem
ntsport $okport
ntsdumpdir $WORK
CONF
  target/release/examples/server -f "$WORK/ours.conf" --threads 1 > "$WORK/ours.log" 2>&1 &
  ours_pid=$!; STARTED+=("$ours_pid")
  sleep 1
  kill -0 "$ours_pid" || { cat "$WORK/ours.log" >&2; return 1; }
  echo "chronyd $(chronyd -v | head -1) pid $chrony_pid on :$cport (NTS-KE :$ckport); ntpkit pid $ours_pid on :$oport (NTS-KE :$okport)"
  echo "server mode rate cpu_us_per_response invalid lost  (auth_load: 1 socket, 64 in flight, ${DURATION}s; ke: one handshake after another)"
  local ca=$WORK/pki/ca.pem
  : > "$results"
  for round in $(seq 1 "$ROUNDS"); do
    measure chronyd nts "$chrony_pid" --target 127.0.0.1:"$cport" --nts 127.0.0.1:"$ckport" --ca "$ca" | tee -a "$results"
    measure ntpkit nts "$ours_pid" --target 127.0.0.1:"$oport" --nts 127.0.0.1:"$okport" --ca "$ca" | tee -a "$results"
    measure chronyd sha256 "$chrony_pid" --target 127.0.0.1:"$cport" --key "$WORK/keys:1" | tee -a "$results"
    measure ntpkit sha256 "$ours_pid" --target 127.0.0.1:"$oport" --key "$WORK/keys:1" | tee -a "$results"
    measure chronyd ke "$chrony_pid" --ke 127.0.0.1:"$ckport" --ca "$ca" | tee -a "$results"
    measure ntpkit ke "$ours_pid" --ke 127.0.0.1:"$okport" --ca "$ca" | tee -a "$results"
  done
  awk '
    { k = $1 " " $2; n[k]++; r[k] += $3; rr[k] += $3 * $3; c[k] += $4; cc[k] += $4 * $4 }
    $1 == "chronyd" { last[$2] = $3 } $1 == "ntpkit" && last[$2] > 0 { ratio[$2] = ratio[$2] sprintf(" %.2f", $3 / last[$2]) }
    END {
      for (k in n) {
        mr = r[k] / n[k]; mc = c[k] / n[k]
        printf "%s: %.0f ± %.0f /s, %.2f ± %.2f µs CPU each (%d runs)\n", k, mr,
          sqrt(rr[k] / n[k] - mr * mr), mc, sqrt(cc[k] / n[k] - mc * mc), n[k]
      }
      for (m in ratio) printf "ntpkit/chronyd %s per round:%s\n", m, ratio[m]
    }' "$results" | sort
  echo "(ke CPU: chronyd does NTS-KE in a helper process, not counted; ours in a thread of the server, counted)"
}

case "${1:-}" in
  test)
    bash scripts/install-peers.sh
    cargo build --release --examples
    # --include-ignored: the tests that need chronyd and root are #[ignore]d; sim_auth needs `sim`.
    cargo test --release --features sim --test interop_auth --test interop_client_auth --test sim_auth \
      --test nts --test auth_vectors -- --include-ignored --test-threads=1 --nocapture
    ;;
  bench) bash scripts/install-peers.sh; bench ;;
  *) echo "usage: $0 test|bench" >&2; exit 2 ;;
esac
