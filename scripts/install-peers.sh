#!/bin/bash
# install-peers.sh  -- install the interop peers if missing: Debian's chrony (its service kept from
# starting) and ntpsec-ntpdig, and the C tools the load generators and clknetsim are built with (gcc,
# g++, make). The one place the project installs them; the interop scripts call it.
#
# The chrony package's postinst would start the SYSTEM chronyd, which steers the clock: service
# starts are forbidden with policy-rc.d while installing (removed afterwards only if made here).
# NB: installing chrony removes systemd-timesyncd (Conflicts); harmless in CI. Needs root when
# something is missing.
set -euo pipefail
need=()
command -v chronyd >/dev/null || need+=(chrony)
command -v ntpdig >/dev/null || need+=(ntpsec-ntpdig)
command -v gcc >/dev/null || need+=(gcc libc6-dev)
command -v g++ >/dev/null || need+=(g++)
command -v make >/dev/null || need+=(make)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "install-peers: ${need[*]} missing and not root: cannot install" >&2
  exit 1
fi
made_policy=0
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  made_policy=1
fi
DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >/dev/null \
  || { apt-get update >/dev/null \
       && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${need[@]}" >/dev/null; }
[ "$made_policy" = 1 ] && rm -f /usr/sbin/policy-rc.d
echo "install-peers: installed ${need[*]}"
