#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian machine, idempotently:
#   - apt: BIND 9, Knot and PowerDNS Authoritative with its SQLite backend (RFC 2136 peers),
#     etcd (shared state of several controllers), dig, iproute2, headless Chromium with a font
#     (the status page's browser test);
#   - PyPI: moto[server] 5.2.5 in a venv (Route 53 peer); dnspython 2.9.2 in a venv (a second,
#     independent DNS message parser for the embedded server's wire tests);
#   - npm: @stoplight/prism-cli 5.14.2 (Cloudflare schema checks; 5.15+ needs Node 24).
# Peers go to $DNSFAILBACK_PEERS (default ~/.cache/dnsfailback-peers); tests find them there.
# Nothing is started here: each test starts its own peer on 127.0.0.1 and stops it.
set -euo pipefail
PEERS="${DNSFAILBACK_PEERS:-$HOME/.cache/dnsfailback-peers}"
mkdir -p "$PEERS"

need_apt=()
command -v named >/dev/null 2>&1 || need_apt+=(bind9 bind9-utils)
command -v knotd >/dev/null 2>&1 || need_apt+=(knot knot-dnsutils)
# PowerDNS: the server, its SQLite backend (module + schema; the tests create a database from
# the schema with the sqlite3 shell), and pdnsutil (in pdns-server) for keys and metadata.
if ! command -v pdns_server >/dev/null 2>&1; then
  need_apt+=(pdns-server pdns-backend-sqlite3)
elif [ ! -e /usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql ]; then
  need_apt+=(pdns-backend-sqlite3)
fi
command -v sqlite3 >/dev/null 2>&1 || need_apt+=(sqlite3)
command -v dig >/dev/null 2>&1 || need_apt+=(bind9-dnsutils)
command -v tsig-keygen >/dev/null 2>&1 || need_apt+=(bind9-utils)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
command -v ip >/dev/null 2>&1 || need_apt+=(iproute2)
# dnsperf: the embedded-vs-BIND queries/s benchmark (scripts/bench-embedded-vs-bind.sh; not a test).
command -v dnsperf >/dev/null 2>&1 || need_apt+=(dnsperf)
# etcd: the shared store and leader lease of several controllers (tests start their own).
command -v etcd >/dev/null 2>&1 || need_apt+=(etcd-server)
# `systemd-analyze verify` checks examples/systemd/dnsfailback.service (tests/integration/packaging.rs)
command -v systemd-analyze >/dev/null 2>&1 || need_apt+=(systemd)
# Headless Chromium renders the status page (tests/integration/status_page.rs), with a font for
# its text.
[ -x /usr/bin/chromium ] || need_apt+=(chromium)
[ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need_apt+=(fonts-dejavu-core)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "install-test-deps: apt-get install ${need_apt[*]}"
  # Package scripts must not start system daemons (named or pdns_server on port 53, knotd,
  # etcd):
  # tests start their own copies on loopback ports. policy-rc.d exit 101 tells invoke-rc.d
  # (and deb-systemd-invoke) "not now".
  had_policy=0
  [ -e /usr/sbin/policy-rc.d ] && had_policy=1
  if [ $had_policy = 0 ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  if [ $had_policy = 0 ]; then rm -f /usr/sbin/policy-rc.d; fi
  # On a systemd machine the postinst also *enables* pdns.service (started at the next boot,
  # on port 53 of every address). Only for a PowerDNS installed by this run: stop + disable it.
  if [[ " ${need_apt[*]} " == *" pdns-server "* ]] && [ -d /run/systemd/system ]; then
    systemctl disable --now pdns.service >/dev/null 2>&1 || true
  fi
fi

if [ ! -x "$PEERS/moto-5.2.5/bin/moto_server" ]; then
  echo "install-test-deps: pip install moto[server]==5.2.5"
  python3 -m venv "$PEERS/moto-5.2.5"
  "$PEERS/moto-5.2.5/bin/pip" install -q 'moto[server]==5.2.5'
fi

# dnspython: the embedded server's tests parse raw replies with dns.message.from_wire (strict:
# trailing bytes are an error), beside hickory's parser.
if ! "$PEERS/dnspython-2.9.2/bin/python" -c 'import dns.message' >/dev/null 2>&1; then
  echo "install-test-deps: pip install dnspython==2.9.2"
  python3 -m venv "$PEERS/dnspython-2.9.2"
  "$PEERS/dnspython-2.9.2/bin/pip" install -q 'dnspython==2.9.2'
fi

if [ ! -x "$PEERS/prism-5.14.2/node_modules/.bin/prism" ]; then
  echo "install-test-deps: npm install @stoplight/prism-cli@5.14.2"
  mkdir -p "$PEERS/prism-5.14.2"
  (cd "$PEERS/prism-5.14.2" && npm install --silent --no-audit --no-fund @stoplight/prism-cli@5.14.2 >/dev/null)
fi
echo "install-test-deps: peers ready in $PEERS"
