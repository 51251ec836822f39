#!/usr/bin/env bash
# clknetsim.sh -- the program users run (examples/client, steering the system clock) and chronyd 4.3, side by side
# in the world of chrony's own test suite: clknetsim, a libc-level (LD_PRELOAD) simulation of the kernel clock,
# adjtimex, sockets, timers and the network, on virtual time.
#
#   scripts/clknetsim.sh [--seeds 1-20] [--check] [--jobs N] [--only ntpkit|chronyd] SCENARIO...
#   scripts/clknetsim.sh --list
#
# For each scenario and seed it runs the same world twice, once with chronyd as the client and once with
# `examples/client -d -f CONF --clock system`, both given the same chrony.conf lines, and prints one line per run:
#
#   SCENARIO SEED WHO requests=N sync=S max_off=.. rms_off=.. max_freq=.. rms_freq=.. wakeup=.. limits=ok|FAIL:..
#
# then the medians of each column (and the worst seed's max_off) for both, and their ratio. Figures are those of
# chrony's check_sync: sync = first second after which the true offset stays within TIME_MAX_LIMIT and the
# frequency error within FREQ_MAX_LIMIT; max/RMS offset and frequency error over MAX_SYNC..LIMIT s; requests =
# NTP packets the client sent; wakeup = clknetsim's mean interval between the client's wakeups.
#
# The world (as chrony's test/simulation/test.common sets it up): nodes 1..SERVERS run chronyd `local stratum 1`
# on perfect clocks (the first FALSETICKERS of them are i seconds off); node SERVERS+1 is the client, whose clock
# has a frequency error FREQ_OFFSET plus a random walk of WANDER per second, and starts TIME_OFFSET off. Each
# direction's delay is BASE_DELAY + JITTER * Exp(1). Deterministic for a seed. Every variable below can be set
# in the environment (scenario `custom` takes them all from there); CLIENT_ONLY_CONF adds lines to ntpkit's
# configuration only; KEEP_LOGS=DIR keeps each client's output there.
#
# --check: exit 1 when ntpkit leaves the limits on a seed where chronyd does not (or on any seed with
# STRICT=1), or when a run fails.
#
# Needs: chronyd (Debian package chrony: scripts/install-peers.sh) and CLKNETSIM_PATH, a clknetsim
# built by you outside this repository (https://github.com/mlichvar/clknetsim: `make` in a checkout;
# docs/clknetsim.md). This script never builds or fetches it; without it, it says so and exits 3.
# The client runs without CAP_SYS_TIME (this script drops it), so nothing here can reach the real
# clock: every clock call goes to clknetsim.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
scenarios_help="default low-jitter high-jitter step iburst large-jitter falsetickers freq-fast freq-slow
wander minpoll fixed-poll loss-free-asymmetry refclock-phc refclock-shm hwtimestamp hwtimestamp-nocrossts custom"

seeds=1-20 check=0 jobs=${JOBS:-2} only=""
args=()
while [ $# -gt 0 ]; do
  case $1 in
    --seeds) seeds=$2; shift 2 ;;
    --check) check=1; shift ;;
    --jobs) jobs=$2; shift 2 ;;
    --only) only=$2; shift 2 ;;
    --list) echo "$scenarios_help" | tr ' \n' '\n\n' | grep -v '^$'; exit 0 ;;
    --world) shift; args=("$@"); break ;;  # internal: run one world (SCENARIO SEED WHO)
    -h|--help) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "unknown option $1" >&2; exit 2 ;;
    *) args+=("$1"); shift ;;
  esac
done

# --- clknetsim ---------------------------------------------------------------------------------------------------
find_clknetsim() {
  if [ -z "${CLKNETSIM_PATH:-}" ]; then
    echo "clknetsim.sh: not run: set CLKNETSIM_PATH to a built clknetsim" \
      "(https://github.com/mlichvar/clknetsim, make; docs/clknetsim.md)" >&2
    return 1
  fi
  if [ ! -x "$CLKNETSIM_PATH/clknetsim" ] || [ ! -r "$CLKNETSIM_PATH/clknetsim.so" ]; then
    echo "CLKNETSIM_PATH=$CLKNETSIM_PATH holds no built clknetsim (clknetsim, clknetsim.so): run make there" >&2
    return 1
  fi
  CLKNETSIM_PATH=$(cd "$CLKNETSIM_PATH" && pwd)
}

# delay_expr FROM TO CLIENT: clknetsim's expression for the delay of packets from node FROM to node TO.
delay_expr() {
  if [ "$1" = "$3" ] && [ "$ASYMMETRY" != 0 ]; then
    echo "(+ $BASE_DELAY $ASYMMETRY (* $JITTER (exponential)))"
  else
    echo "(+ $BASE_DELAY (* $JITTER (exponential)))"
  fi
}

# --- one world ---------------------------------------------------------------------------------------------------
# world SCENARIO SEED WHO: prints the line of figures. WHO is chronyd or ntpkit.
world() {
  local scen=$1 seed=$2 who=$3
  : "${SERVERS:=1}" "${FALSETICKERS:=0}" "${BASE_DELAY:=1e-4}" "${JITTER:=1e-4}" "${FREQ_OFFSET:=1e-4}"
  : "${WANDER:=1e-9}" "${TIME_OFFSET:=1e-1}" "${LIMIT:=10000}" "${CLIENT_SERVER_OPTIONS:=}" "${CLIENT_CONF:=}"
  : "${MIN_SYNC:=0}" "${MAX_SYNC:=210}" "${TIME_MAX_LIMIT:=1e-3}" "${FREQ_MAX_LIMIT:=5e-4}"
  : "${TIME_RMS_LIMIT:=3e-4}" "${FREQ_RMS_LIMIT:=1e-5}" "${ASYMMETRY:=0}" "${REFCLOCK_JITTER:=}"
  : "${REFCLOCK_OFFSET:=0.0}" "${PHC_DELAY:=}" "${PHC_JITTER:=}" "${PHC_JITTER_ASYM:=}" "${TIMESTAMPING:=}"
  : "${SERVER_CONF:=}"
  local makestep="makestep 1 3"
  case $scen in
    default) ;;
    low-jitter) JITTER=1e-5 ;;
    high-jitter) JITTER=1e-3 ;;
    step) TIME_OFFSET=1.0; CLIENT_CONF="$makestep${CLIENT_CONF:+$'\n'$CLIENT_CONF}" ;;
    iburst) TIME_OFFSET=1.0; CLIENT_CONF="$makestep${CLIENT_CONF:+$'\n'$CLIENT_CONF}"
      CLIENT_SERVER_OPTIONS="iburst $CLIENT_SERVER_OPTIONS" ;;
    large-jitter) TIME_OFFSET=1.0; JITTER=1e-1; TIME_MAX_LIMIT=5e-1; FREQ_MAX_LIMIT=2e-1
      TIME_RMS_LIMIT=1e-1; FREQ_RMS_LIMIT=5e-3 ;;
    falsetickers) SERVERS=5; FALSETICKERS=2; BASE_DELAY=1e-3 ;;
    freq-fast) FREQ_OFFSET=1e-3 ;;
    freq-slow) FREQ_OFFSET=-3e-4 ;;
    wander) WANDER=1e-8 ;;
    minpoll) CLIENT_SERVER_OPTIONS="minpoll 4 maxpoll 8 $CLIENT_SERVER_OPTIONS" ;;
    fixed-poll) CLIENT_SERVER_OPTIONS="minpoll 6 maxpoll 6 $CLIENT_SERVER_OPTIONS" ;;
    loss-free-asymmetry) ASYMMETRY=1e-4 ;;
    # A cloud VM's PTP hardware clock (ptp_kvm, ptp_ena, ptp_hyperv) as the only source: the PHC is 1 us off
    # true time (normal), read in 1 us +/- 0.1 us.
    refclock-phc) SERVERS=0; REFCLOCK_JITTER=1e-6; PHC_DELAY=1e-6; PHC_JITTER=1e-7
      CLIENT_CONF="refclock PHC /dev/ptp0${CLIENT_CONF:+$'\n'$CLIENT_CONF}" ;;
    # gpsd's shared memory (a GPS receiver's time, 100 us of jitter) as the only source.
    refclock-shm) SERVERS=0; REFCLOCK_JITTER=1e-4
      CLIENT_CONF="refclock SHM 0${CLIENT_CONF:+$'\n'$CLIENT_CONF}" ;;
    # chrony's 133-hwtimestamp world: every node's network card timestamps packets on its own clock (10 s off
    # true time), read against the system clock in 1 us +/- 0.1 us (asymmetrically); 10 ns of network jitter;
    # server and client with `hwtimestamp eth0` and 1 ns precision, polling every second in interleaved mode.
    hwtimestamp|hwtimestamp-nocrossts) JITTER=1e-8; FREQ_OFFSET=1e-5; TIMESTAMPING=2; PHC_DELAY=1e-6
      PHC_JITTER=1e-7; PHC_JITTER_ASYM=0.4; REFCLOCK_OFFSET=10.0; REFCLOCK_JITTER=1e-8; LIMIT=1000; MAX_SYNC=20
      TIME_RMS_LIMIT=1e-7; FREQ_RMS_LIMIT=3e-8
      SERVER_CONF=$'clockprecision 1e-9\nhwtimestamp eth0'
      CLIENT_SERVER_OPTIONS="minpoll 0 maxpoll 0 xleave $CLIENT_SERVER_OPTIONS"
      local hw="hwtimestamp eth0"; [ "$scen" = hwtimestamp-nocrossts ] && hw+=" nocrossts"
      CLIENT_CONF="$hw"$'\nclockprecision 1e-9'"${CLIENT_CONF:+$'\n'$CLIENT_CONF}" ;;
    custom) ;;
    *) echo "unknown scenario $scen (--list)" >&2; return 2 ;;
  esac
  local work; work=$(mktemp -d "${TMPDIR:-/tmp}/ntpkit-clknetsim-world.XXXXXX")
  (
    set +eu
    cd "$work" && mkdir tmp
    CLKNETSIM_TMPDIR=tmp
    . "$CLKNETSIM_PATH/clknetsim.bash"
    export CLKNETSIM_RANDOM_SEED=$seed CLKNETSIM_IP_FAMILY=4 CLKNETSIM_UNIX_SUBNET=2
    [ -n "$PHC_DELAY" ] && export CLKNETSIM_PHC_DELAY=$PHC_DELAY
    [ -n "$PHC_JITTER" ] && export CLKNETSIM_PHC_JITTER=$PHC_JITTER
    [ -n "$PHC_JITTER_ASYM" ] && export CLKNETSIM_PHC_JITTER_ASYM=$PHC_JITTER_ASYM
    [ -n "$TIMESTAMPING" ] && export CLKNETSIM_TIMESTAMPING=$TIMESTAMPING
    local client=$((SERVERS + 1)) i j offset conf
    for i in $(seq 1 $client); do
      echo "node${i}_shift_pll = 2"
      for j in $(seq 1 $client); do
        # Requests (client -> server) may take ASYMMETRY longer than responses. (The same lines, in the same
        # order, as chrony's test.common writes them: clknetsim draws its random numbers in that order.)
        echo "node${i}_delay${j} = $(delay_expr "$i" "$j" "$client")"
        echo "node${j}_delay${i} = $(delay_expr "$j" "$i" "$client")"
      done
    done > tmp/conf
    for i in $(seq 1 "$SERVERS"); do
      offset=0.0; [ "$i" -le "$FALSETICKERS" ] && offset=$i.0
      # Each node's reference clock (a PHC, SHM, a network card's clock): true time plus this error.
      [ -n "$REFCLOCK_JITTER" ] && \
        echo "node${i}_refclock = (+ $REFCLOCK_OFFSET (* $REFCLOCK_JITTER (normal)))" >> tmp/conf
      printf 'node%s_offset = %s\nnode%s_start = 0.0\n' "$i" "$offset" "$i" >> tmp/conf
      start_client "$i" chronyd "local stratum 1${SERVER_CONF:+$'\n'$SERVER_CONF}" >/dev/null || exit 3
    done
    printf 'node%s_freq = (+ %s (sum (* %s (normal))))\nnode%s_offset = %s\nnode%s_start = 0.0\n' \
      "$client" "$FREQ_OFFSET" "$WANDER" "$client" "$TIME_OFFSET" "$client" >> tmp/conf
    # The client's reference clock.
    [ -n "$REFCLOCK_JITTER" ] && \
      echo "node${client}_refclock = (+ $REFCLOCK_OFFSET (* $REFCLOCK_JITTER (normal)))" >> tmp/conf
    conf="deny"
    for i in $(seq 1 "$SERVERS"); do conf+=$'\n'"server 192.168.123.$i $CLIENT_SERVER_OPTIONS"; done
    [ -n "$CLIENT_CONF" ] && conf+=$'\n'"$CLIENT_CONF"
    if [ "$who" = chronyd ]; then
      start_client "$client" chronyd "$conf" >/dev/null || exit 3
    else
      # (As clknetsim's own start_client gives chronyd: a PID file of its own world.)
      printf '%s\n' "pidfile $work/tmp/pidfile.$client" "$conf" ${CLIENT_ONLY_CONF:+"$CLIENT_ONLY_CONF"} \
        > tmp/client.conf
      LD_PRELOAD=$CLKNETSIM_PATH/clknetsim.so CLKNETSIM_NODE=$client CLKNETSIM_SOCKET=tmp/sock \
        "$repo/target/release/examples/client" -d -f "$work/tmp/client.conf" --clock system &> "tmp/log.$client" &
      client_pids="$client_pids $!"
    fi
    if ! start_server "$client" -n 2 -o tmp/log.offset -f tmp/log.freq -p tmp/log.packets -R 1 \
        -r "$MAX_SYNC" -l "$LIMIT" >/dev/null 2>&1; then
      echo "$scen $seed $who SIMFAIL $(tail -1 "tmp/log.$client" 2>/dev/null)"; exit 1
    fi
    local requests sync max_off rms_off max_freq rms_freq wakeup fail=""
    requests=$(awk -v c="$client" '$2 == c && $6 == 123' tmp/log.packets | wc -l)
    sync=$(find_sync tmp/log.offset tmp/log.freq "$client" "$TIME_MAX_LIMIT" "$FREQ_MAX_LIMIT" 1.0)
    max_off=$(get_stat 'Maximum absolute offset' "$client"); rms_off=$(get_stat 'RMS offset' "$client")
    max_freq=$(get_stat 'Maximum absolute frequency' "$client"); rms_freq=$(get_stat 'RMS frequency' "$client")
    wakeup=$(get_stat 'Mean wakeup interval' "$client")
    check_stat "$sync" "$MIN_SYNC" "$MAX_SYNC" || fail+="sync,"
    check_stat "$max_off" 0.0 "$TIME_MAX_LIMIT" || fail+="max_off,"
    check_stat "$rms_off" 0.0 "$TIME_RMS_LIMIT" || fail+="rms_off,"
    check_stat "$max_freq" 0.0 "$FREQ_MAX_LIMIT" || fail+="max_freq,"
    check_stat "$rms_freq" 0.0 "$FREQ_RMS_LIMIT" || fail+="rms_freq,"
    printf '%s %s %s requests=%s sync=%s max_off=%.3e rms_off=%.3e max_freq=%.3e rms_freq=%.3e wakeup=%.3e limits=%s\n' \
      "$scen" "$seed" "$who" "$requests" "$sync" "$max_off" "$rms_off" "$max_freq" "$rms_freq" "$wakeup" \
      "$([ -n "$fail" ] && echo "FAIL:${fail%,}" || echo ok)"
  )
  local rc=$?
  if [ -n "${KEEP_LOGS:-}" ]; then   # the client's output, for a look at what it did
    mkdir -p "$KEEP_LOGS" && cp "$work/tmp/log.$((SERVERS + 1))" "$KEEP_LOGS/$scen-$seed-$who.log" 2>/dev/null
    cp "$work/tmp/log.packets" "$KEEP_LOGS/$scen-$seed-$who.packets" 2>/dev/null
  fi
  rm -rf "$work"
  return $rc
}

if [ ${#args[@]} -ge 3 ] && [ "${args[2]}" = chronyd -o "${args[2]}" = ntpkit ] && [ -n "${CLKNETSIM_PATH:-}" ] \
    && [ "${NTPKIT_CLKNETSIM_WORLD:-}" = 1 ]; then
  world "${args[@]}"; exit $?
fi
[ ${#args[@]} -gt 0 ] || { echo "usage: $0 [--seeds 1-20] [--check] [--jobs N] SCENARIO... (--list)" >&2; exit 2; }

# --- setup -------------------------------------------------------------------------------------------------------
command -v chronyd >/dev/null || { echo "chronyd is needed (Debian package chrony: scripts/install-peers.sh)" >&2; exit 3; }
find_clknetsim || exit 3
export CLKNETSIM_PATH
if [ "$only" != chronyd ]; then
  (cd "$repo" && cargo build --release --example client --quiet) || exit 3
fi
# Never let anything here reach the real clock: run the worlds without CAP_SYS_TIME.
capeff=$(awk '/^CapEff/ {print $2}' /proc/self/status)
drop=()
if (( (16#$capeff >> 25) & 1 )); then
  drop=(setpriv --bounding-set=-sys_time --inh-caps=-sys_time --)
fi

expand() {  # 1-20,25 -> one number a line
  tr ',' '\n' <<< "$1" | while IFS=- read -r a b; do seq "$a" "${b:-$a}"; done
}
whos="chronyd ntpkit"; [ -n "$only" ] && whos=$only
out=$(mktemp "${TMPDIR:-/tmp}/ntpkit-clknetsim.XXXXXX")
trap 'rm -f "$out"' EXIT
for scen in "${args[@]}"; do
  for seed in $(expand "$seeds"); do for who in $whos; do echo "$scen $seed $who"; done; done
done | xargs -P "$jobs" -L 1 env NTPKIT_CLKNETSIM_WORLD=1 "${drop[@]}" bash "$0" --world | tee "$out"

# --- medians -----------------------------------------------------------------------------------------------------
status=0
echo
printf '%-20s %-8s %8s %8s %10s %10s %10s %10s %10s %10s %s\n' scenario who requests sync rms_off max_off \
  worst_max rms_freq max_freq wakeup "outside limits"
for scen in "${args[@]}"; do
  for who in $whos; do
    grep "^$scen [0-9]* $who " "$out" | awk -v scen="$scen" -v who="$who" '
      function median(a, n,   i, j, t) {
        for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
        return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
      }
      { n++
        for (k = 4; k <= NF; k++) { split($k, kv, "="); v[kv[1], n] = kv[2] }
        if ($0 ~ /SIMFAIL/) { simfail++; next }
        if (v["limits", n] != "ok") fails = fails $2 ","
        if (v["max_off", n] + 0 > worst) worst = v["max_off", n] + 0
      }
      END {
        if (n == 0) exit
        split("requests sync rms_off max_off rms_freq max_freq wakeup", cols, " ")
        for (c = 1; c <= 7; c++) { m = 0; for (i = 1; i <= n; i++) if ((cols[c], i) in v) a[++m] = v[cols[c], i]; med[cols[c]] = median(a, m) }
        printf "%-20s %-8s %8.1f %8.1f %10.3e %10.3e %10.3e %10.3e %10.3e %10.3e %s\n", scen, who, med["requests"],
          med["sync"], med["rms_off"], med["max_off"], worst, med["rms_freq"], med["max_freq"], med["wakeup"],
          (fails == "" ? "none" : "seeds " fails) (simfail ? " SIMFAIL:" simfail : "")
      }'
  done
  if [ "$check" = 1 ] && [ -z "$only" ]; then
    bad=$(awk -v scen="$scen" -v strict="${STRICT:-0}" '
      $1 == scen { lim[$2, $3] = ($0 ~ /limits=ok/) ? "ok" : "fail"; seen[$2] = 1 }
      END { for (s in seen) if (lim[s, "ntpkit"] != "ok" && (strict || lim[s, "chronyd"] == "ok")) printf "%s ", s }' "$out")
    if [ -n "$bad" ]; then echo "CHECK FAILED: $scen: ntpkit outside chrony's limits on seeds $bad" >&2; status=1; fi
  fi
done
exit $status
