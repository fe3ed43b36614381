# compose.yaml, replica, first start: sourced by the image's entrypoint. Points replication at the primary
# from its first GTID on, so the replica receives everything the primary ever logged (database, accounts,
# migrations). Not logged locally: the replica's GTID history stays the primary's.
adminql_repl_pw=$(docker_sql_escape_string_literal "$REPLICATION_PASSWORD")
mysql_note "adminql (compose): replicating from mariadb-primary"
docker_process_sql --binary-mode <<EOSQL
SET SESSION sql_log_bin = 0;
SET GLOBAL gtid_slave_pos = '';
CHANGE MASTER TO MASTER_HOST='mariadb-primary', MASTER_PORT=3306, MASTER_USER='replicator',
  MASTER_PASSWORD='${adminql_repl_pw}', MASTER_USE_GTID=slave_pos, MASTER_CONNECT_RETRY=5;
EOSQL
unset adminql_repl_pw
