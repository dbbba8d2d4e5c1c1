#!/usr/bin/env bash
# Installs what the tests and the demo need from the machine's package
# manager: promtool, and rabbitmq-server (Debian's package) unless a broker is given
# through RABBITMQ_URL or one is already installed. Only acts as root on
# Debian-family machines; elsewhere it says what to install.
set -euo pipefail

# promtool (Debian's prometheus package) for the alert rule tests.
if ! command -v promtool >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing prometheus (for promtool) with apt-get (once)" >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  else
    echo "promtool is missing (the alert rule tests need it): apt-get install prometheus" >&2
  fi
fi

if [ -n "${RABBITMQ_URL:-}" ]; then exit 0; fi
if [ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || command -v rabbitmq-server >/dev/null 2>&1; then exit 0; fi

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing rabbitmq-server with apt-get (once)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends rabbitmq-server >/dev/null
  exit 0
fi

cat >&2 <<'MSG'
rabbitmq-server is not installed and this script can only install it as root
with apt-get. Install it (Debian/Ubuntu: apt-get install rabbitmq-server), or
point the tests at a broker with RABBITMQ_URL and RABBITMQ_MANAGEMENT_URL.
MSG
exit 1
