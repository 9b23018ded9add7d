#!/usr/bin/env bash
# Installs the Debian packages the tests need (PostgreSQL, Redis for the scale-out tests,
# bubblewrap, Chromium for the web client's browser tests and bench/web.py) when missing.
set -euo pipefail

missing=()
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
[ -x /usr/lib/postgresql/15/bin/initdb ] || command -v initdb >/dev/null 2>&1 || missing+=(postgresql)
command -v git >/dev/null 2>&1 || missing+=(git)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
# Playwright drives Debian's browser: its own browser download cannot work here.
[ -x /usr/bin/chromium ] || missing+=(chromium fonts-dejavu-core)

[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "missing system packages: ${missing[*]} (install them, or run as root)" >&2
  exit 1
fi
echo "installing system packages: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
