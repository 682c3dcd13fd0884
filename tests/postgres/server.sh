# A throw-away PostgreSQL server for the tests, in a temporary folder:
#
#     source tests/postgres/server.sh
#
# installs Debian's `postgresql` package when no server is installed,
# starts a server on 127.0.0.1 (port $CASEBRIDGE_TEST_POSTGRES_PORT, 55432 by
# default) as a normal user (`postgres` when run as root: PostgreSQL refuses
# root), exports CASEBRIDGE_TEST_POSTGRES for the storage and multi-host
# tests, and stops the server and removes its folder when the shell exits.

postgres_bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

if [ -z "$(postgres_bin)" ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
fi
CASEBRIDGE_PG_BIN="$(postgres_bin)"
CASEBRIDGE_PG_PORT="${CASEBRIDGE_TEST_POSTGRES_PORT:-55432}"
CASEBRIDGE_PG_DIR="$(mktemp -d -t casebridge-postgres.XXXXXX)"
if [ "$(id -u)" = 0 ]; then
  chown postgres "$CASEBRIDGE_PG_DIR"
  casebridge_pg_as() { runuser -u postgres -- "$@"; }
else
  casebridge_pg_as() { "$@"; }
fi

casebridge_pg_as "$CASEBRIDGE_PG_BIN/initdb" -D "$CASEBRIDGE_PG_DIR/data" -U postgres --auth=trust \
  --encoding=UTF8 --locale=C.UTF-8 >"$CASEBRIDGE_PG_DIR/initdb.log"
# Enough connections for every test at once: each host's pool holds up to 8.
casebridge_pg_as "$CASEBRIDGE_PG_BIN/pg_ctl" -D "$CASEBRIDGE_PG_DIR/data" -l "$CASEBRIDGE_PG_DIR/server.log" -w \
  -o "-p $CASEBRIDGE_PG_PORT -k $CASEBRIDGE_PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=off" \
  start >/dev/null

casebridge_stop_postgres() {
  casebridge_pg_as "$CASEBRIDGE_PG_BIN/pg_ctl" -D "$CASEBRIDGE_PG_DIR/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$CASEBRIDGE_PG_DIR"
}
trap casebridge_stop_postgres EXIT

export CASEBRIDGE_TEST_POSTGRES="postgres://postgres@127.0.0.1:$CASEBRIDGE_PG_PORT/postgres"
echo "PostgreSQL $("$CASEBRIDGE_PG_BIN/postgres" --version | awk '{print $3}') for the tests at $CASEBRIDGE_TEST_POSTGRES"
