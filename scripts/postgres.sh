# Starts a throwaway PostgreSQL server on loopback for the tests (sourced by test.sh).
# Installs Debian's postgresql package when no server binaries are on the machine.
# Exports SWITCHBOARD_TEST_DATABASE_URL and defines stop_test_postgres.

PG_PORT="${SWITCHBOARD_TEST_PG_PORT:-55432}"
PG_DIR="${SWITCHBOARD_TEST_PG_DIR:-/tmp/switchboard-test-pg}"

pg_bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

if [ -z "$(pg_bin)" ]; then
  echo "installing PostgreSQL from Debian's packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq postgresql >/dev/null
fi
PG_BIN="$(pg_bin)"
if [ -z "$PG_BIN" ]; then
  echo "PostgreSQL server binaries not found after install" >&2
  exit 1
fi

# PostgreSQL refuses to run as root: run it as the postgres user the package creates.
as_pg() {
  if [ "$(id -u)" = "0" ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

stop_test_postgres() {
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR" -m fast stop >/dev/null 2>&1 || true
}

if ! as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR" status >/dev/null 2>&1; then
  rm -rf "$PG_DIR"
  mkdir -p "$PG_DIR"
  [ "$(id -u)" = "0" ] && chown postgres "$PG_DIR"
  as_pg "$PG_BIN/initdb" -D "$PG_DIR" -U postgres --auth=trust -E UTF8 >/dev/null
  as_pg "$PG_BIN/pg_ctl" -D "$PG_DIR" -l "$PG_DIR/server.log" -w \
    -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off" start >/dev/null
fi
export SWITCHBOARD_TEST_DATABASE_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
export SWITCHBOARD_TEST_PG_DUMP="$PG_BIN/pg_dump"
echo "PostgreSQL for tests: $SWITCHBOARD_TEST_DATABASE_URL"
