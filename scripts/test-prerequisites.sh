#!/usr/bin/env bash
# What `npm test` needs on the machine, made sure of before the tests run (and said as it is done):
# Debian's packages the tests drive (Chromium for the browser tests, HAProxy for the load-balancer
# test, promtool for the alert rules, bsdtar: base-backup restores extract with it), PostgreSQL on 127.0.0.1:5432 and
# NATS with JetStream on 127.0.0.1:4222 (started when down, the way this machine's services start).
# Set CONTINUITY_TEST_PREPARE=0 to skip it (the tests then fail, saying what to start, when something is missing).
set -euo pipefail

if [ "${CONTINUITY_TEST_PREPARE:-1}" = "0" ]; then exit 0; fi

say() { echo "[test prerequisites] $*"; }

# Debian packages: command that must exist -> package that provides it.
declare -A NEEDED=(
  [/usr/bin/chromium]=chromium
  [haproxy]=haproxy
  [promtool]=prometheus
  [bsdtar]=libarchive-tools
  [zstd]=zstd
)
missing=()
for cmd in "${!NEEDED[@]}"; do
  if ! command -v "$cmd" >/dev/null 2>&1; then missing+=("${NEEDED[$cmd]}"); fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" != "0" ] || ! command -v apt-get >/dev/null 2>&1; then
    say "missing: ${missing[*]} — install them with your package manager (Debian: sudo apt-get install ${missing[*]})"
    exit 1
  fi
  say "installing Debian's ${missing[*]} (once)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
  if command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
    say "starting PostgreSQL on 127.0.0.1:5432"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start
  else
    say "PostgreSQL is not answering on 127.0.0.1:5432 and no local cluster to start: start one (trust auth, user postgres)"
    exit 1
  fi
fi
if ! port_open 4222; then
  if [ -x /usr/sbin/nats-server ] || command -v nats-server >/dev/null 2>&1; then
    say "starting NATS with JetStream on 127.0.0.1:4222"
    nats="$(command -v nats-server || echo /usr/sbin/nats-server)"
    if [ "$(id -u)" = "0" ]; then
      mkdir -p /var/lib/nats-server
      start-stop-daemon --start --oknodo --background --exec "$nats" -- \
        -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log
    else
      mkdir -p "${TMPDIR:-/tmp}/continuity-nats"
      nohup "$nats" -a 127.0.0.1 -p 4222 -js -sd "${TMPDIR:-/tmp}/continuity-nats" >/dev/null 2>&1 &
    fi
  else
    say "NATS is not answering on 127.0.0.1:4222 and nats-server is not installed: install it (Debian: nats-server) or start one with -js"
    exit 1
  fi
fi
for _ in $(seq 1 50); do
  if pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null && port_open 4222; then break; fi
  sleep 0.2
done
pg_isready -h 127.0.0.1 -p 5432 -q || { say "PostgreSQL did not start on 127.0.0.1:5432"; exit 1; }
port_open 4222 || { say "NATS did not start on 127.0.0.1:4222"; exit 1; }
