#!/usr/bin/env bash
# Install the Debian packages finchain's tests and demo need when they are missing:
#   nats-server (stream engine scale-out), mosquitto (IoT gateway interop), chromium +
#   chromium-driver (console browser tests). Usage: scripts/services.sh [nats] [mosquitto] [chromium]
set -euo pipefail
want=("$@")
[ ${#want[@]} -eq 0 ] && want=(nats mosquitto chromium)
pkgs=()
for w in "${want[@]}"; do
    case "$w" in
        nats) command -v nats-server >/dev/null 2>&1 || pkgs+=(nats-server) ;;
        mosquitto) command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || pkgs+=(mosquitto) ;;
        chromium) command -v chromium >/dev/null 2>&1 || pkgs+=(chromium chromium-driver) ;;
        redis) command -v redis-server >/dev/null 2>&1 || pkgs+=(redis-server redis-tools) ;;
        wrk) command -v wrk >/dev/null 2>&1 || pkgs+=(wrk) ;;
        *) echo "unknown service $w" >&2; exit 2 ;;
    esac
done
if [ ${#pkgs[@]} -gt 0 ]; then
    echo "==> apt-get install ${pkgs[*]}"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
    # Debian starts mosquitto/redis as system services on install; tests start their own.
    for svc in mosquitto redis-server; do
        $SUDO systemctl stop "$svc" >/dev/null 2>&1 || $SUDO service "$svc" stop >/dev/null 2>&1 || true
    done
fi
