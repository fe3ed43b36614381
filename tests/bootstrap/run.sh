#!/bin/bash
# The MariaDB pods' first start, for real: the scripts of manifests/mariadb-configmap.yaml run against the
# Debian mariadbd binaries, each "pod" in a directory of its own that stands for its volumes (data, conf.d,
# /run/mysqld, /config, /scripts, /docker-entrypoint-initdb.d, /backups), with the environment of the
# StatefulSet's container (read from the manifests; Secrets replaced by test passwords, the primary's DNS
# name by 127.0.0.1 and a port). A "container start" is the container's command (start.sh), which execs
# entrypoint.sh, the stand-in for the image's entrypoint. Called by scripts/test.
#
# Checked:
#   1. a primary killed during its first start (data directory half made) starts again from scratch and
#      ends complete: marker, accounts that log in, semisync on;
#   2. a replica killed during its first copy starts again, ends with every row and replicates, with
#      semisync acknowledgements; ready.sh holds it unready until then;
#   3. ready.sh fails on a replica whose replication is stopped or not configured at all;
#   4. MariaDB's temporary files are on the data volume, which shows no extra database;
#   5. backup.sh writes a dump that scripts/db-restore loads into an identical copy.
set -euo pipefail
cd "$(dirname "$0")/../.."
repo=$(pwd)
here=$repo/tests/bootstrap

fail() { echo "bootstrap: FAIL: $*" >&2; exit 1; }
note() { echo "bootstrap: $*"; }

T=$(mktemp -d "${TMPDIR:-/tmp}/adminql-bootstrap-XXXXXX")
pgids=()
cleanup() {
  local g
  for g in "${pgids[@]}"; do kill -9 -- "-$g" 2>/dev/null || true; done
  rm -rf "$T"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
primary_port=$(free_port)
replica_port=$(free_port)

# Test passwords, with quotes and a backslash: the scripts must escape them.
export ROOT_PW="root'pw" APP_PW="app'p\"w\\1" REPL_PW="repl'pw" BACKUP_PW="backup'pw" EXPORTER_PW="exporter'pw"

# The ConfigMap's keys to files; each StatefulSet's container command, readiness probe and env.
python3 - "$T" "$primary_port" <<'EOF'
import os, shlex, sys, yaml
out, primary_port = sys.argv[1], sys.argv[2]
secrets = {"MARIADB_ROOT_PASSWORD": os.environ["ROOT_PW"], "MARIADB_PASSWORD": os.environ["APP_PW"],
           "MARIADB_REPLICATION_PASSWORD": os.environ["REPL_PW"], "MARIADB_BACKUP_PASSWORD": os.environ["BACKUP_PW"],
           "MARIADB_EXPORTER_PASSWORD": os.environ["EXPORTER_PW"]}
os.makedirs(f"{out}/cm")
cm = yaml.safe_load(open("manifests/mariadb-configmap.yaml"))
for key, text in cm["data"].items():
    open(f"{out}/cm/{key}", "w").write(text)
for role in ("primary", "replica"):
    docs = [d for d in yaml.safe_load_all(open(f"manifests/mariadb-{role}.yaml")) if d and d["kind"] == "StatefulSet"]
    pod = docs[0]["spec"]["template"]["spec"]
    assert not pod.get("initContainers"), f"{role}: the first start must not depend on an init container"
    c = next(c for c in pod["containers"] if c["name"] == "mariadb")
    assert c["command"] == ["bash", "/scripts/start.sh", role], c["command"]
    assert c["readinessProbe"]["exec"]["command"] == ["bash", "/scripts/ready.sh", role]
    env = []
    for e in c["env"]:
        if "valueFrom" in e:
            value = secrets[e["valueFrom"]["secretKeyRef"]["key"]]
        else:
            value = e["value"]
        if e["name"] == "PRIMARY_HOST":
            value = "127.0.0.1"
        env.append(f"{e['name']}={value}")
    env.append(f"HOSTNAME=mariadb-{role}-0")
    if role == "replica":
        env.append(f"PRIMARY_PORT={primary_port}")
    with open(f"{out}/env-{role}", "w") as f:
        f.write("podenv=(" + " ".join(shlex.quote(v) for v in env) + ")\n")
    # The initdb directory as the pod mounts it: ConfigMap keys under their mounted names.
    initdb = next(v for v in pod["volumes"] if v["name"] == "initdb")["configMap"]["items"]
    with open(f"{out}/initdb-{role}", "w") as f:
        f.write("".join(f"{i['key']} {i['path']}\n" for i in initdb))
EOF

# pod_create NAME ROLE PORT: the pod's volumes and the my.cnf the image would read.
pod_create() {
  local name=$1 role=$2 port=$3 d=$T/$1
  mkdir -p "$d"/{data,conf,run,config,initdb,backups}
  cp "$T/cm/$role.cnf" "$d/config/"
  local key path
  while read -r key path; do cp "$T/cm/$key" "$d/initdb/$path"; done < "$T/initdb-$role"
  cat > "$d/my.cnf" <<EOF
[mariadbd]
datadir = $d/data
socket = $d/run/mysqld.sock
pid-file = $d/run/mysqld.pid
port = $port
bind-address = 127.0.0.1
user = $(id -un)
log-error = $d/error.log
innodb_buffer_pool_size = 64M
!includedir $d/conf
EOF
}

# pod_start NAME ROLE [VAR=VALUE...]: the container's command, in a process group of its own.
pod_start() {
  local name=$1 role=$2 d=$T/$1
  shift 2
  local podenv
  # shellcheck disable=SC1090 # sets podenv, the container's environment
  source "$T/env-$role"
  env -i PATH="$PATH" "${podenv[@]}" "$@" \
    ADMINQL_DATADIR="$d/data" ADMINQL_CONF_DIR="$d/conf" ADMINQL_CONFIG_DIR="$d/config" \
    ADMINQL_SOCKET="$d/run/mysqld.sock" ADMINQL_INITDB_DIR="$d/initdb" ADMINQL_TEST_MYCNF="$d/my.cnf" \
    ADMINQL_ENTRYPOINT="$here/entrypoint.sh" \
    setsid bash "$T/cm/start.sh" "$role" >> "$d/log" 2>&1 < /dev/null &
  eval "pgid_$name=$!"
  pgids+=("$!")
  disown "$!"
  # The arguments, for a restart (see wait_ready).
  if (($#)); then printf '%s\n' "$@"; fi > "$d/start-args"
}

# running NAME: the pod's container is still running (its process group has a member, or,
# just after pod_start, before it has made its group, the process itself lives).
running() {
  local g
  g=$(eval "echo \$pgid_$1")
  kill -0 -- "-$g" 2>/dev/null || kill -0 "$g" 2>/dev/null
}

pod_kill() {
  local g
  g=$(eval "echo \$pgid_$1")
  # The process itself too: just after pod_start it may not have made its group yet.
  kill -9 -- "-$g" "$g" 2>/dev/null || true
  while kill -0 -- "-$g" 2>/dev/null || kill -0 "$g" 2>/dev/null; do sleep 0.1; done
}

ready() {
  local name=$1 role=$2 d=$T/$1
  env -i PATH="$PATH" MARIADB_ROOT_PASSWORD="$ROOT_PW" ADMINQL_DATADIR="$d/data" \
    ADMINQL_SOCKET="$d/run/mysqld.sock" bash "$T/cm/ready.sh" "$role"
}

# wait_ready NAME ROLE SECONDS [RESTARTS]: RESTARTS (default 0) exits are restarted as the
# kubelet would; a container that exits once more fails the harness.
wait_ready() {
  local name=$1 role=$2 limit=$3 allowed=${4:-0} i restarts=0 args
  for ((i = 0; i < limit * 5; i++)); do
    if ready "$name" "$role" >/dev/null 2>&1; then return 0; fi
    if ! running "$name"; then
      # The container exited (a setup step that fails exits 1): the kubelet would start it
      # again, and start.sh must then clear the half-done data directory and begin anew.
      ((restarts < allowed)) || break
      restarts=$((restarts + 1))
      note "$name's container exited; starting it again as the kubelet would (restart $restarts)"
      mapfile -t args < "$T/$name/start-args"
      pod_start "$name" "$role" "${args[@]}"
    fi
    sleep 0.2
  done
  # The log without the rows a failed INSERT echoes, the server's own log, what failed.
  echo "--- $name log"; grep -v "^(" "$T/$name/log" | tail -n 60
  echo "--- $name error log"; tail -n 40 "$T/$name/error.log" 2>/dev/null || true
  fail "$name did not become ready: $(ready "$name" "$role" || true)"
}

# sql NAME STATEMENTS: as root over the pod's socket.
sql() {
  MYSQL_PWD=$ROOT_PW mariadb --no-defaults --protocol=socket --socket="$T/$1/run/mysqld.sock" -uroot \
    --batch --skip-column-names -e "$2"
}

# tcp PORT USER PASSWORD STATEMENTS: as an account over TCP, the way the pods' clients connect.
tcp() {
  MYSQL_PWD=$3 mariadb --no-defaults --protocol=TCP --host=127.0.0.1 --port="$1" --user="$2" \
    --batch --skip-column-names -e "$4"
}

wait_for() {
  local what=$1 limit=$2 i
  shift 2
  for ((i = 0; i < limit * 20; i++)); do
    if "$@"; then return 0; fi
    sleep 0.05
  done
  fail "timed out waiting for $what"
}

# 1. The primary, killed half-way through its first start.
pod_create primary primary "$primary_port"
pod_start primary primary SEMISYNC=on
wait_for "the primary's first start to begin" 60 test -d "$T/primary/data/mysql"
[ -f "$T/primary/data/.adminql-primary-initialized" ] && fail "the primary finished before it was killed"
pod_kill primary
note "primary killed during its first start"
if ready primary primary >/dev/null; then fail "a half-initialised primary is ready"; fi
pod_start primary primary SEMISYNC=on
wait_ready primary primary 120 3
grep -q "an earlier first start did not finish" "$T/primary/log" || fail "the restart did not clear the data directory"
[ "$(tcp "$primary_port" adminql "$APP_PW" 'SELECT CURRENT_USER()')" = "adminql@%" ] || fail "the application account"
tcp "$primary_port" backup "$BACKUP_PW" 'SELECT 1 FROM mysql.proc LIMIT 1' >/dev/null || fail "the backup account"
[ "$(sql primary "SELECT @@server_id, @@read_only, @@rpl_semi_sync_master_enabled")" = "$(printf '1\t0\t1')" ] \
  || fail "the primary's settings: $(sql primary 'SELECT @@server_id, @@read_only, @@rpl_semi_sync_master_enabled')"
[ "$(sql primary 'SELECT @@tmpdir')" = "$T/primary/data/.tmp" ] || fail "tmpdir is not on the data volume"
sql primary 'SHOW DATABASES' | grep -q tmp && fail "the temporary directory shows up as a database"
note "primary complete after the restart"

# Enough data that the replica's copy takes a while.
tcp "$primary_port" adminql "$APP_PW" "USE adminql; CREATE TABLE adminql.t (id INT PRIMARY KEY, v VARCHAR(200));
  INSERT INTO adminql.t SELECT seq, REPEAT('x', 200) FROM seq_1_to_100000;"

# 2. The replica, killed during its first copy.
pod_create replica replica "$replica_port"
pod_start replica replica SEMISYNC=on
wait_for "the replica's copy to begin" 120 test -d "$T/replica/data/adminql"
[ -f "$T/replica/data/.adminql-replica-initialized" ] && fail "the copy finished before it was killed"
pod_kill replica
note "replica killed during its first copy"
if ready replica replica >/dev/null; then fail "a half-copied replica is ready"; fi
pod_start replica replica SEMISYNC=on
wait_ready replica replica 180 3
grep -q "an earlier first start did not finish" "$T/replica/log" || fail "the restart did not clear the replica"
tcp "$primary_port" adminql "$APP_PW" "INSERT INTO adminql.t VALUES (100001, 'after the copy')"
pos=$(sql primary 'SELECT @@gtid_binlog_pos')
[ "$(sql replica "SELECT MASTER_GTID_WAIT('$pos', 30)")" = 0 ] || fail "the replica does not replicate"
[ "$(sql replica 'SELECT COUNT(*) FROM adminql.t')" = 100001 ] || fail "the replica's copy is incomplete"
[ "$(sql replica 'SELECT @@server_id, @@read_only')" = "$(printf '101\t1')" ] || fail "the replica's settings"
[ "$(tcp "$replica_port" adminql "$APP_PW" 'SELECT v FROM adminql.t WHERE id = 100001')" = "after the copy" ] \
  || fail "the application account on the replica"
[ "$(sql primary "SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'Rpl_semi_sync_master_clients'")" = 1 ] \
  || fail "the replica does not acknowledge semi-synchronously"
note "replica complete and replicating after the restart"

# 3. Readiness follows replication.
sql replica 'STOP SLAVE SQL_THREAD'
if ready replica replica >/dev/null; then fail "ready with the SQL thread stopped"; fi
sql replica 'START SLAVE SQL_THREAD'
wait_ready replica replica 30
sql replica 'STOP SLAVE; RESET SLAVE ALL'
out=$(ready replica replica) && fail "ready with no replication configured"
[ "$out" = "ready.sh: replication is not configured" ] || fail "unexpected readiness message: $out"
note "ready.sh: unready with replication stopped or not configured"

# 5. backup.sh, with the backup volume at this pod's backups directory (the only change), then a restore.
grep -c '^dir=/backups$' "$T/cm/backup.sh" | grep -qx 1 || fail "backup.sh no longer writes to dir=/backups"
sed "s|^dir=/backups\$|dir=$T/primary/backups|" "$T/cm/backup.sh" > "$T/backup.sh"
env -i PATH="$PATH" BACKUP_HOST=127.0.0.1 BACKUP_PORT="$primary_port" BACKUP_USER=backup \
  BACKUP_PASSWORD="$BACKUP_PW" APP_DATABASE=adminql RETENTION_DAYS=7 bash "$T/backup.sh" > "$T/backup.log" 2>&1 \
  || { cat "$T/backup.log"; fail "backup.sh failed"; }
dump=$(find "$T/primary/backups" -name 'adminql-*.sql.gz' | head -n 1)
[ -n "$dump" ] || fail "backup.sh wrote no dump"
sql primary "CREATE USER restorer@'127.0.0.1' IDENTIFIED BY 'restore-pw'; GRANT ALL ON *.* TO restorer@'127.0.0.1'"
RESTORE_PW=restore-pw "$repo/scripts/db-restore" --host 127.0.0.1 --port "$primary_port" --user restorer \
  --password-env RESTORE_PW --database restored "$dump" > "$T/restore.log" 2>&1 \
  || { cat "$T/restore.log"; fail "the dump does not restore"; }
original=$(sql primary 'CHECKSUM TABLE adminql.t' | cut -f2)
copy=$(sql primary 'CHECKSUM TABLE restored.t' | cut -f2)
[ "$original" = "$copy" ] || fail "the restored table differs ($copy, not $original)"
note "backup.sh: $(basename "$dump") restores to an identical copy"
note "all passed"
