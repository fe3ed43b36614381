#!/bin/bash
# Stands in for the official mariadb image's docker-entrypoint.sh (not available outside the image) in the
# bootstrap harness (run.sh). It reproduces, in the same order, the steps of that entrypoint that the
# ConfigMap's scripts rely on, and no more:
#   - "database already exists" means $DATADIR/mysql is a directory; only otherwise:
#     1. mariadb-install-db on the data directory (no binlog, no test database);
#     2. a temporary server: no networking, socket only, replication threads not started;
#     3. root@localhost gets MARIADB_ROOT_PASSWORD (unlogged); MARIADB_DATABASE, MARIADB_USER (ALL on that
#        database) and MARIADB_REPLICATION_USER (REPLICATION REPLICA) are created when set (logged);
#     4. every *.sh in the initdb directory is sourced, in name order, with the helpers the ConfigMap's
#        initdb scripts call: docker_process_sql, docker_sql_escape_string_literal, mysql_note, mysql_warn,
#        docker_temp_server_stop, and DATADIR;
#     5. the temporary server is stopped;
#   - then mariadbd is exec'd with the pod's configuration.
# Left out, because no script relies on them: time zone tables, the healthcheck account, MARIADB_AUTO_UPGRADE,
# running as the mysql user via gosu (the harness runs everything as the invoking user).
# Harness inputs: ADMINQL_TEST_MYCNF (the pod's my.cnf: datadir, socket, port, !includedir conf.d),
# ADMINQL_DATADIR, ADMINQL_SOCKET, ADMINQL_INITDB_DIR.
set -eo pipefail
DATADIR=${ADMINQL_DATADIR:?}
SOCKET=${ADMINQL_SOCKET:?}
mycnf=${ADMINQL_TEST_MYCNF:?}
initdb=${ADMINQL_INITDB_DIR:?}

mysql_note() { echo "entrypoint: $*"; }
mysql_warn() { echo "entrypoint: warning: $*" >&2; }

# As in the image: backslashes, newlines and single quotes escaped for a '...' SQL literal.
docker_sql_escape_string_literal() {
  local newline=$'\n'
  local escaped=${1//\\/\\\\}
  escaped="${escaped//$newline/\\n}"
  echo "${escaped//\'/\\\'}"
}

docker_process_sql() {
  local pw=$MARIADB_ROOT_PASSWORD
  if [ "$1" = --dont-use-mysql-root-password ]; then
    pw=
    shift
  fi
  if [ -n "${MARIADB_DATABASE:-}" ]; then
    set -- --database="$MARIADB_DATABASE" "$@"
  fi
  MYSQL_PWD=$pw mariadb --no-defaults --protocol=socket -uroot -hlocalhost --socket="$SOCKET" "$@"
}

docker_temp_server_start() {
  mariadbd --defaults-file="$mycnf" --skip-networking --default-time-zone=SYSTEM --socket="$SOCKET" \
    --wsrep_on=OFF --expire-logs-days=0 --skip-slave-start --loose-innodb_buffer_pool_load_at_startup=0 &
  MARIADB_PID=$!
  for _ in $(seq 60); do
    if docker_process_sql --dont-use-mysql-root-password --database=mysql -e 'SELECT 1' >/dev/null 2>&1; then
      return 0
    fi
    sleep 1
  done
  echo "entrypoint: the temporary server did not start" >&2
  exit 1
}

docker_temp_server_stop() {
  kill "$MARIADB_PID"
  wait "$MARIADB_PID" || true
}

if [ ! -d "$DATADIR/mysql" ]; then
  mysql_note "initialising $DATADIR"
  mariadb-install-db --defaults-file="$mycnf" --datadir="$DATADIR" --skip-test-db --auth-root-authentication-method=normal --default-time-zone=SYSTEM \
    --enforce-storage-engine= --skip-log-bin --expire-logs-days=0 \
    --loose-innodb_buffer_pool_load_at_startup=0 --loose-innodb_buffer_pool_dump_at_shutdown=0 >/dev/null
  docker_temp_server_start
  root_pw=$(docker_sql_escape_string_literal "$MARIADB_ROOT_PASSWORD")
  create=
  if [ -n "${MARIADB_DATABASE:-}" ]; then
    create+="CREATE DATABASE IF NOT EXISTS \`$MARIADB_DATABASE\`;"
  fi
  if [ -n "${MARIADB_USER:-}" ]; then
    user_pw=$(docker_sql_escape_string_literal "$MARIADB_PASSWORD")
    create+="CREATE USER '$MARIADB_USER'@'%' IDENTIFIED BY '$user_pw';"
    if [ -n "${MARIADB_DATABASE:-}" ]; then
      create+="GRANT ALL ON \`${MARIADB_DATABASE//_/\\_}\`.* TO '$MARIADB_USER'@'%';"
    fi
  fi
  if [ -n "${MARIADB_REPLICATION_USER:-}" ]; then
    repl_pw=$(docker_sql_escape_string_literal "$MARIADB_REPLICATION_PASSWORD")
    create+="CREATE USER '$MARIADB_REPLICATION_USER'@'%' IDENTIFIED BY '$repl_pw';"
    create+="GRANT REPLICATION REPLICA ON *.* TO '$MARIADB_REPLICATION_USER'@'%';"
  fi
  # The database is not created yet, so none is selected for this first batch.
  MARIADB_DATABASE='' docker_process_sql --dont-use-mysql-root-password --database=mysql --binary-mode <<EOSQL
SET @orig_sql_log_bin = @@SESSION.SQL_LOG_BIN;
SET @@SESSION.SQL_LOG_BIN = 0;
DROP USER IF EXISTS root@'127.0.0.1', root@'::1';
SET PASSWORD FOR 'root'@'localhost' = PASSWORD('$root_pw');
SET @@SESSION.SQL_LOG_BIN = @orig_sql_log_bin;
$create
EOSQL
  for f in "$initdb"/*.sh; do
    [ -e "$f" ] || continue
    mysql_note "sourcing $f"
    # shellcheck disable=SC1090
    . "$f"
  done
  docker_temp_server_stop
  mysql_note "first start done"
fi
mysql_note "starting $1"
exec "$1" --defaults-file="$mycnf" "${@:2}"
