#!/usr/bin/env bash
# The test command: install (setup.sh --test), lint, and run pytest with a throwaway PostgreSQL.
#
#   ./scripts/test.sh                 everything (what CI runs)
#   ./scripts/test.sh tests/store -q  arguments go to pytest
#
# A private PostgreSQL cluster is created in a temporary directory, listens on 127.0.0.1 on a
# free port, and is stopped and removed on exit, whatever happens. The tests find it through
# V6FABRIC_TEST_PG_URL. If that variable is already set, that server is used instead.
# If PostgreSQL cannot be started, CI (CI set) fails; elsewhere the PostgreSQL tests skip.
# V6FABRIC_LINT=0 skips ruff and lint-imports (for quick local runs; CI always lints).
# Exit status: pytest's, or 1 if pytest passed but a linter failed.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$repo"

say() { printf 'test: %s\n' "$*"; }

bash "$repo/scripts/setup.sh" --test

# --- throwaway PostgreSQL ----------------------------------------------------------------------
pg_tmp=""
pg_bin=""

pg_as_owner() {
  # Run a PostgreSQL program as the cluster owner: `postgres` when we are root
  # (the server refuses to run as root), ourselves otherwise.
  if [ "$(id -u)" = 0 ]; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && "$@")
  fi
}

stop_cluster() {
  # Stop the server of the cluster in directory $1 (if one runs) and remove the directory.
  local dir=$1 pid bin
  if [ -f "$dir/data/postmaster.pid" ]; then
    pid=$(head -n 1 "$dir/data/postmaster.pid")
    bin=$(dirname "$(readlink -f "/proc/$pid/exe" 2>/dev/null || echo /nonexistent/x)")
    if [ -x "$bin/pg_ctl" ]; then
      pg_as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
    fi
    # If pg_ctl could not stop it, end that server (the one serving this directory) by its pid.
    if [ -f "$dir/data/postmaster.pid" ] \
      && [ "$(readlink -f "/proc/$pid/cwd" 2>/dev/null)" = "$(readlink -f "$dir/data")" ]; then
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -rf "$dir"
}

stop_postgres() {
  if [ -n "$pg_tmp" ]; then stop_cluster "$pg_tmp"; fi
  pg_tmp=""
}

sweep_stale_clusters() {
  # Clusters of earlier runs that were killed before they could clean up (kill -9, a lost
  # machine): their owner.pid names a process that is gone. Other runs' clusters stay.
  local dir owner
  for dir in /tmp/v6fabric-pg.*; do
    [ -d "$dir" ] || continue
    owner=$(cat "$dir/owner.pid" 2>/dev/null || true)
    if [ -n "$owner" ]; then
      if [ -d "/proc/$owner" ]; then continue; fi
    elif [ -z "$(find "$dir" -maxdepth 0 -mmin +10)" ]; then
      continue # being set up right now
    fi
    say "removing the PostgreSQL of an earlier, interrupted run: $dir"
    stop_cluster "$dir"
  done
}

trap stop_postgres EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  "$repo/.venv/bin/python" -c '
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()'
}

start_postgres() {
  # Diagnostics go to stdout (captured by the caller); returns non-zero on failure.
  local initdb port attempt
  initdb=$(printf '%s\n' /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)
  if [ ! -x "$initdb" ]; then
    initdb=$(command -v initdb || true)
    [ -n "$initdb" ] || { echo "no initdb found (is postgresql installed?)"; return 1; }
    initdb=$(readlink -f "$initdb")
  fi
  pg_bin=$(dirname "$initdb")
  if [ "$(id -u)" = 0 ] && ! id postgres >/dev/null 2>&1; then
    echo "no 'postgres' user to own the cluster"
    return 1
  fi
  pg_tmp=$(mktemp -d /tmp/v6fabric-pg.XXXXXX) || return 1
  echo "$$" >"$pg_tmp/owner.pid"
  chmod 0755 "$pg_tmp" || return 1
  if [ "$(id -u)" = 0 ]; then chown postgres: "$pg_tmp" || return 1; fi
  pg_as_owner "$initdb" -D "$pg_tmp/data" -U postgres -A trust -E UTF8 --locale=C \
    --no-sync --no-instructions >"$pg_tmp/initdb.log" 2>&1 \
    || { cat "$pg_tmp/initdb.log"; return 1; }
  # A free port can be taken between the probe and the start: try a few.
  for attempt in 1 2 3; do
    port=$(free_port) || return 1
    if pg_as_owner "$pg_bin/pg_ctl" -D "$pg_tmp/data" -l "$pg_tmp/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $pg_tmp -c max_connections=300 \
          -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      start >/dev/null 2>&1; then
      if pg_as_owner "$pg_bin/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -q \
        -v ON_ERROR_STOP=1 -c 'CREATE DATABASE v6fabric_test' >"$pg_tmp/createdb.log" 2>&1; then
        export V6FABRIC_TEST_PG_URL="postgresql+psycopg://postgres@127.0.0.1:$port/v6fabric_test"
        return 0
      fi
      cat "$pg_tmp/createdb.log"
      return 1
    fi
    echo "start attempt $attempt on port $port failed"
  done
  tail -n 20 "$pg_tmp/server.log" 2>/dev/null || true
  return 1
}

sweep_stale_clusters
if [ -n "${V6FABRIC_TEST_PG_URL:-}" ]; then
  say "PostgreSQL: using V6FABRIC_TEST_PG_URL from the environment"
else
  pg_diag=$(mktemp -t v6fabric-pg-start.XXXXXX)
  # Not in a subshell: the cluster's directory and URL must reach this shell.
  if start_postgres >"$pg_diag" 2>&1; then
    rm -f "$pg_diag"
    say "PostgreSQL: throwaway cluster at $V6FABRIC_TEST_PG_URL"
  else
    sed 's/^/    /' "$pg_diag" >&2
    rm -f "$pg_diag"
    stop_postgres
    if [ -n "${CI:-}" ]; then
      say "error: could not start PostgreSQL, and CI needs the PostgreSQL tests" >&2
      exit 1
    fi
    say "warning: could not start PostgreSQL; the PostgreSQL tests will skip" >&2
  fi
fi

# --- lint and tests ------------------------------------------------------------------------------
lint_status=0
if [ "${V6FABRIC_LINT:-1}" != 0 ] || [ -n "${CI:-}" ]; then
  say "ruff check ."
  .venv/bin/ruff check . || lint_status=1
  say "lint-imports"
  .venv/bin/lint-imports || lint_status=1
fi

say "pytest $*"
pytest_status=0
.venv/bin/pytest "$@" || pytest_status=$?

if [ "$pytest_status" = 5 ]; then
  say "error: pytest collected no tests" >&2
fi
if [ "$pytest_status" != 0 ]; then exit "$pytest_status"; fi
if [ "$lint_status" != 0 ]; then
  say "error: tests passed but lint failed (see above)" >&2
  exit 1
fi
exit 0
