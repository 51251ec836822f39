#!/usr/bin/env bash
# check-dist.sh -- checks the service files in dist/ without installing anything: every file is
# copied into a temporary folder, paths rewritten to point there, and checked with the tools that
# read it. No unit is started or enabled, nothing is written outside that folder.
#
#   1. the files agree with each other and with the daemon: ExecStart runs /usr/local/sbin/ntpkitd
#      with -n, --clock system and -u the unit's User=; Type=notify; a SystemCallFilter= and no -F
#      beside it; the ntp-units.d list names the unit; sysusers creates that user; logrotate
#      renames, nocreate, with chronyc cyclelogs after (ntpkitd reopens renamed files itself)
#   2. systemd-analyze verify on the unit (its ExecStart pointed at a stub in the folder), and
#      systemd-analyze security --offline's exposure (figure only)
#   3. logrotate -d on the logrotate file (its paths moved into the folder), then a forced rotation
#      while examples/client writes its logdir files and -l log: the renamed files keep the old
#      lines and get no more, the daemon's next lines land in new files (logdir's with a banner)
#   4. systemd-sysusers --root=FOLDER on the sysusers file
# A tool that is missing is installed when running as root with apt-get (CI: fresh Debian 12),
# else its check prints SKIPPED and is not counted as passed. Part 3's daemon run needs
# ${CARGO_TARGET_DIR:-target}/release/examples/client (cargo build --release --example client);
# it uses UDP ports 11141-11142 on 127.0.0.1 and stops only the processes it started, by PID.
# Exit status: 1 when a check failed.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
WORK=$(mktemp -d "${TMPDIR:-/tmp}/ntpkit-dist.XXXXXX")
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

UNIT=dist/systemd/ntpkitd.service
LIST=$(ls dist/ntp-units.d/*.list)
LOGROTATE=dist/logrotate/ntpkitd
SYSUSERS=dist/sysusers.d/ntpkitd.conf
CLIENT=${CARGO_TARGET_DIR:-target}/release/examples/client
passed=0 failed=0 skipped=0
pass() { echo "PASS $*"; passed=$((passed + 1)); }
fail() { echo "FAIL $*"; failed=$((failed + 1)); }
skip() { echo "SKIPPED (not run, not passed): $*"; skipped=$((skipped + 1)); }
step() { printf '\n=== check-dist: %s\n' "$*"; }

# have TOOL PACKAGE: TOOL is on PATH, installing PACKAGE first when root can.
have() {
  command -v "$1" >/dev/null && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing $2 (for $1)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$2" >/dev/null 2>&1 || true
  fi
  command -v "$1" >/dev/null
}

# value KEY FILE: the value of the (last) KEY= line of a unit file.
value() { sed -n "s/^$1=//p" "$2" | tail -1; }

step "the files agree with each other and with the daemon"
exec_start=$(value ExecStart "$UNIT")
user=$(value User "$UNIT")
read -r -a words <<<"$exec_start"
case " $exec_start " in
  *" --clock system "*) pass "ExecStart steers the system clock (--clock system)" ;;
  *) fail "ExecStart lacks --clock system: the daemon would never steer the clock: $exec_start" ;;
esac
[ "${words[0]}" = "!/usr/local/sbin/ntpkitd" ] &&
  pass "ExecStart runs /usr/local/sbin/ntpkitd as root (!), which drops root itself" ||
  fail "ExecStart runs ${words[0]}, not !/usr/local/sbin/ntpkitd"
[ "$(value Type "$UNIT")" = notify ] && [[ " $exec_start " == *" -n "* ]] &&
  pass "Type=notify with -n (the daemon stays in the foreground and sends READY=1)" ||
  fail "Type=notify needs -n in ExecStart (without it the daemon forks away from systemd)"
grep -q 'notify_ready();' src/linux/daemon/mod.rs &&
  pass "the daemon calls notify_ready (sd_notify READY=1)" ||
  fail "src/linux/daemon/mod.rs no longer calls notify_ready: Type=notify would time out"
[ -n "$user" ] && [[ " $exec_start " == *" -u $user "* ]] &&
  pass "-u $user is the unit's User= (owner of its directories)" ||
  fail "ExecStart's -u and User= ($user) differ: the daemon could not write its directories"
# The unit filters system calls itself; the daemon's own filter (-F, chronyd's levels) is an
# operator's choice in NTPKITD_OPTS, not a second filter by default.
if grep -q '^SystemCallFilter=' "$UNIT" && [[ " $exec_start " != *" -F "* ]]; then
  pass "the unit filters system calls (SystemCallFilter=) and passes no -F (NTPKITD_OPTS may)"
else
  fail "$UNIT: SystemCallFilter= missing, or -F in ExecStart beside it"
fi
grep -qx 'ntpkitd.service' "$LIST" && pass "$LIST names ntpkitd.service" ||
  fail "$LIST does not name ntpkitd.service"
awk -v u="$user" '$1 == "u" && $2 == u { found = 1 } END { exit !found }' "$SYSUSERS" &&
  pass "$SYSUSERS creates $user" || fail "$SYSUSERS does not create $user"
grep -q '^/var/log/chrony/\*\.log {' "$LOGROTATE" && ! grep -qw copytruncate "$LOGROTATE" &&
  grep -qw nocreate "$LOGROTATE" && grep -q 'chronyc cyclelogs.*|| true' "$LOGROTATE" &&
  pass "$LOGROTATE renames /var/log/chrony/*.log, nocreate, then chronyc cyclelogs" ||
  fail "$LOGROTATE must rename /var/log/chrony/*.log (nocreate, chronyc cyclelogs || true)"

step "systemd-analyze verify"
if have systemd-analyze systemd; then
  # The unit as shipped, but for ExecStart's binary: a stub in the folder (verify checks that the
  # command is executable). --man=no: Documentation='s man pages are chrony's, installed or not
  # on this machine; they say nothing of the unit.
  mkdir -p "$WORK/unit"
  printf '#!/bin/sh\nexit 0\n' >"$WORK/unit/ntpkitd"
  chmod 755 "$WORK/unit/ntpkitd"
  sed "s#/usr/local/sbin/ntpkitd#$WORK/unit/ntpkitd#" "$UNIT" >"$WORK/unit/ntpkitd.service"
  if out=$(systemd-analyze verify --man=no "$WORK/unit/ntpkitd.service" 2>&1) && [ -z "$out" ]; then
    pass "systemd-analyze verify: no finding"
  else
    fail "systemd-analyze verify:"
    echo "$out"
  fi
  systemd-analyze security --offline=true "$WORK/unit/ntpkitd.service" 2>/dev/null | tail -1 ||
    true
else
  skip "systemd-analyze verify: systemd-analyze is not installed"
fi

step "logrotate"
if have logrotate logrotate; then
  mkdir -p "$WORK/log"
  # postrotate's chronyc is a stub that notes its arguments: no daemon of this machine is asked.
  printf '#!/bin/sh\necho "$*" >>"%s/chronyc.args"\nexit 1\n' "$WORK" >"$WORK/chronyc"
  chmod 755 "$WORK/chronyc"
  sed -e "s#/var/log/chrony#$WORK/log#" -e "s#/usr/bin/chronyc#$WORK/chronyc#" "$LOGROTATE" \
    >"$WORK/logrotate.conf"
  if out=$(logrotate -d -s "$WORK/logrotate.state" "$WORK/logrotate.conf" 2>&1) &&
    ! grep -qi 'error' <<<"$out"; then
    pass "logrotate -d: the file is read without error"
  else
    fail "logrotate -d:"
    echo "$out"
  fi
  if [ -x "$CLIENT" ]; then
    # A serving node (own clock) and the daemon following it, writing logdir files and -l.
    "$CLIENT" -n -t 20 "port 11141" "bindaddress 127.0.0.1" "allow 127.0.0.1" \
      "local stratum 10" "cmdport 0" "bindcmdaddress /" >"$WORK/upstream.out" 2>&1 &
    PIDS+=($!)
    sleep 0.5
    "$CLIENT" -n -t 8 -l "$WORK/log/ntpkitd.log" \
      "server 127.0.0.1 port 11141 minpoll -2 maxpoll 0 iburst" "cmdport 0" \
      "bindcmdaddress /" "logdir $WORK/log" "log measurements tracking" \
      >"$WORK/daemon.out" 2>&1 &
    daemon=$!
    PIDS+=("$daemon")
    sleep 4
    logrotate -f -s "$WORK/logrotate.state" "$WORK/logrotate.conf" 2>&1 || true
    declare -A rotated_size
    for name in measurements tracking ntpkitd; do
      rotated_size[$name]=$(wc -c <"$WORK/log/$name.log.1" 2>/dev/null || echo 0)
    done
    wait "$daemon" || true
    ok=1
    for name in measurements tracking ntpkitd; do
      old="$WORK/log/$name.log.1" new="$WORK/log/$name.log"
      # Renamed: the old file keeps what it had and gets no more, the new one has the lines
      # since, a logdir file's starting with its banner.
      if [ ! -s "$old" ] || [ ! -s "$new" ] ||
        [ "$(wc -c <"$old")" != "${rotated_size[$name]}" ] ||
        { [ "$name" != ntpkitd ] && ! head -1 "$new" | grep -q '^====='; }; then
        ok=0
        echo "$name.log: rotated $(wc -l <"$old" 2>/dev/null || echo none) lines," \
          "current $(wc -l <"$new" 2>/dev/null || echo none) lines"
      fi
    done
    # postrotate ran once (sharedscripts), its failure (505 from ntpkitd) ignored.
    [ "$(cat "$WORK/chronyc.args" 2>/dev/null)" = cyclelogs ] || { ok=0; echo "postrotate:"; cat "$WORK/chronyc.args"; }
    # Nothing was written to the renamed -l file after the rotation.
    grep -q 'ntpkit exiting' "$WORK/log/ntpkitd.log" &&
      ! grep -q 'ntpkit exiting' "$WORK/log/ntpkitd.log.1" || ok=0
    if [ "$ok" = 1 ]; then
      pass "a forced rotation while the daemon runs: old lines in *.log.1, new lines in new *.log"
    else
      fail "rotation while the daemon runs"
      cat "$WORK/daemon.out"
      ls -l "$WORK/log"
    fi
  else
    skip "rotation beside the daemon: $CLIENT is not built (cargo build --release --example client)"
  fi
else
  skip "logrotate: logrotate is not installed"
fi

step "systemd-sysusers"
if have systemd-sysusers systemd; then
  mkdir -p "$WORK/sysroot/etc"
  if systemd-sysusers --root="$WORK/sysroot" - <"$SYSUSERS" >"$WORK/sysusers.out" 2>&1 &&
    grep -q "^$user:x:[0-9]*:[0-9]*:.*:/var/lib/chrony:/usr/sbin/nologin$" "$WORK/sysroot/etc/passwd" &&
    grep -q "^$user:x:" "$WORK/sysroot/etc/group"; then
    pass "systemd-sysusers creates $user (in the folder's etc/passwd, not this machine's)"
  else
    fail "systemd-sysusers on $SYSUSERS"
    cat "$WORK/sysusers.out" "$WORK/sysroot/etc/passwd" 2>/dev/null || true
  fi
else
  skip "systemd-sysusers: not installed"
fi

printf '\ncheck-dist: %d passed, %d failed, %d skipped\n' "$passed" "$failed" "$skipped"
[ "$failed" = 0 ]
