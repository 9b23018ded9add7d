#!/usr/bin/env bash
# `make test`'s two legs at once: the whole suite on SQLite, and the database-dependent tests
# (`-m db`) on PostgreSQL. Most of a leg's time is waiting (servers starting, paced streams,
# browsers, sandboxes), so the two cores serve both; each leg has its own Redis, PostgreSQL
# and temp directory. The SQLite leg prints as it runs; the PostgreSQL leg's output follows.
# Fails when either leg fails.
set -u
cd "$(dirname "$0")/.."
pytest=.venv/bin/pytest
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

bash scripts/with-postgres.sh bash scripts/with-redis.sh \
    "$pytest" -m db --basetemp="$work/postgres" >"$work/postgres.log" 2>&1 &
postgres_pid=$!

echo "# the SQLite leg (the PostgreSQL leg runs beside it; its output follows)"
bash scripts/with-redis.sh "$pytest" --basetemp="$work/sqlite"
sqlite=$?

wait "$postgres_pid"
postgres=$?
echo
echo "# the PostgreSQL leg"
cat "$work/postgres.log"
echo "# legs: SQLite exit $sqlite, PostgreSQL exit $postgres"
[ "$sqlite" -eq 0 ] && [ "$postgres" -eq 0 ]
