-- compose.yaml, primary, first start (after the image created database, users and the replication account):
-- adminql's replica monitor reads replication state (the same grant as initdb-primary.sh in
-- manifests/mariadb-configmap.yaml). Binlogged, so the replica gets it too.
GRANT SLAVE MONITOR, BINLOG MONITOR ON *.* TO 'adminql'@'%';
