#!/usr/bin/env bash
# Runs a command with a throwaway PostgreSQL server: initialised in a temporary directory,
# listening on a free loopback port, run as an unprivileged user (PostgreSQL refuses root),
# and removed afterwards. The command sees VIBEFORGE_TEST_DATABASE_URL.
set -euo pipefail

pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -n "$pg_bin" ] || pg_bin=$(dirname "$(command -v initdb)")

run_as=()
if [ "$(id -u)" = 0 ]; then
  id vibeforge-pg >/dev/null 2>&1 || useradd --system --no-create-home --shell /usr/sbin/nologin vibeforge-pg
  run_as=(runuser -u vibeforge-pg --)
fi

workdir=$(mktemp -d /tmp/vibeforge-pg.XXXXXX)
chmod 755 "$workdir"
[ "$(id -u)" = 0 ] && chown vibeforge-pg "$workdir"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

cleanup() {
  "${run_as[@]}" "$pg_bin/pg_ctl" -D "$workdir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$workdir"
}
trap cleanup EXIT

"${run_as[@]}" "$pg_bin/initdb" -D "$workdir/data" -U vibeforge --auth=trust -E UTF8 >/dev/null
"${run_as[@]}" "$pg_bin/pg_ctl" -D "$workdir/data" -l "$workdir/log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $port -k $workdir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
  start >/dev/null
"${run_as[@]}" "$pg_bin/createdb" -h 127.0.0.1 -p "$port" -U vibeforge vibeforge

export VIBEFORGE_TEST_DATABASE_URL="postgresql+asyncpg://vibeforge@127.0.0.1:$port/vibeforge"
echo "PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') on 127.0.0.1:$port"
"$@"
