#!/usr/bin/env bash
# Runs a command with a throwaway Redis server (Debian's redis-server): its working directory
# a temporary one, listening on a free loopback port only, no persistence, removed afterwards.
# The command sees VIBEFORGE_TEST_REDIS_URL. Used by `make test` for the scale-out tests.
set -euo pipefail

redis_bin=$(command -v redis-server || true)
[ -n "$redis_bin" ] || { echo "redis-server is missing: run scripts/system-deps.sh" >&2; exit 1; }

workdir=$(mktemp -d /tmp/vibeforge-redis.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

cleanup() {
  if [ -f "$workdir/redis.pid" ]; then
    pid=$(cat "$workdir/redis.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.02; done
  fi
  rm -rf "$workdir" || true
}
trap cleanup EXIT

"$redis_bin" --port "$port" --bind 127.0.0.1 --dir "$workdir" --save "" --appendonly no \
  --daemonize yes --pidfile "$workdir/redis.pid" --logfile "$workdir/log" >/dev/null
for _ in $(seq 100); do
  redis-cli -p "$port" ping >/dev/null 2>&1 && break
  sleep 0.05
done
redis-cli -p "$port" ping >/dev/null

export VIBEFORGE_TEST_REDIS_URL="redis://127.0.0.1:$port/0"
echo "Redis $("$redis_bin" --version | awk '{print $3}' | cut -d= -f2) on 127.0.0.1:$port"
"$@"
