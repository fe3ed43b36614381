//! Off-cluster copies through a real S3 API: moto's server mode, started by the test on a free
//! loopback port, stands for the bucket. `scripts/db-offsite` uploads dumps and the binlog
//! archive (with server-side encryption), lists them, applies retention, downloads them again,
//! and `scripts/db-restore` brings a database back from the downloaded copy alone.

use std::path::Path;
use std::process::{Command, Output};
use std::time::Duration;

use crate::pitr_support::{
    Archiver, ObjectStore, backup, binlog_files, caught_up, ids, insert, restore, script,
    source_database, text, wait_for,
};
use crate::support::mariadb::cluster;

fn ok(out: Output, what: &str) -> String {
    assert!(out.status.success(), "{what}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn dumps_and_binlogs_go_to_object_storage_and_restore_from_it() {
    let store = ObjectStore::start();
    let cluster = cluster();
    let primary = &cluster.primary;
    let db = format!("offsite_{}", std::process::id());
    let user = source_database(primary, &db);
    let work = tempfile::tempdir().unwrap();
    let (backups, archive) = (work.path().join("backups"), work.path().join("binlogs"));
    std::fs::create_dir(&backups).unwrap();
    let mut archiver = Archiver::start(&user, primary.port, &archive, &work.path().join("m.prom"));
    wait_for("the archiver to catch up", Duration::from_secs(60), || {
        caught_up(primary, &archive).then_some(())
    });

    // A complete file before the dump's: it is made 40 days old below, and retention removes it.
    primary.sql("FLUSH BINARY LOGS").unwrap();
    wait_for("the archiver to catch up", Duration::from_secs(60), || {
        caught_up(primary, &archive).then_some(())
    });
    // Two dumps: this one, and one 40 days old that retention removes.
    let dump_name = format!("{db}-20990101T000000Z.sql.gz");
    backup(&user, primary.port, &db, &backups.join(&dump_name));
    let old_name = format!("{db}-20000101T000000Z.sql.gz");
    std::fs::copy(backups.join(&dump_name), backups.join(&old_name)).unwrap();
    let touched = Command::new("touch")
        .args(["-d", "40 days ago"])
        .arg(backups.join(&old_name))
        .status()
        .unwrap();
    assert!(touched.success());
    primary.sql("FLUSH BINARY LOGS").unwrap();
    let gtid = insert(primary, &db, 1..=10, "A");
    insert(primary, &db, 11..=12, "B");
    wait_for(
        "the archiver to stream the rows",
        Duration::from_secs(60),
        || caught_up(primary, &archive).then_some(()),
    );
    archiver.kill("-TERM");
    // rclone keeps a file's modification time on the object: the oldest archived binlog is 40 days
    // old in the bucket too, older than the retention (30 days) plus the day binlogs are kept longer.
    let archived = binlog_files(&archive);
    let (oldest, newest) = (
        archived.first().unwrap().0.clone(),
        archived.last().unwrap().0.clone(),
    );
    assert_ne!(oldest, newest, "{archived:?}");
    let touched = Command::new("touch")
        .args(["-d", "40 days ago"])
        .arg(archive.join(&oldest))
        .status()
        .unwrap();
    assert!(touched.success());

    ok(
        store.offsite(&["push-dumps", backups.to_str().unwrap()]),
        "push-dumps",
    );
    ok(
        store.offsite(&["push-binlogs", archive.to_str().unwrap()]),
        "push-binlogs",
    );
    let listing = ok(store.offsite(&["list"]), "list");
    assert!(listing.contains(&format!("dumps/{dump_name}")), "{listing}");
    assert!(listing.contains(&format!("dumps/{old_name}")), "{listing}");
    assert!(listing.contains(&format!("binlogs/{oldest}")), "{listing}");
    assert!(listing.contains("binlogs-partial/"), "{listing}");
    assert_eq!(
        store.encryption_of(&format!("prod/adminql/dumps/{dump_name}")),
        "AES256"
    );

    ok(store.offsite(&["prune"]), "prune");
    let listing = ok(store.offsite(&["list"]), "list after prune");
    assert!(
        !listing.contains(&old_name),
        "retention kept the old dump: {listing}"
    );
    assert!(
        listing.contains(&dump_name),
        "retention removed the new dump: {listing}"
    );
    assert!(
        !listing.contains(&format!("binlogs/{oldest}")),
        "retention kept the 40-day-old binlog {oldest}: {listing}"
    );
    assert!(
        listing.contains(&format!("binlogs/{newest}")),
        "retention removed the recent binlog {newest}: {listing}"
    );

    // Everything from the bucket alone: the newest dump and the archive, then the restore.
    let pulled = work.path().join("pulled");
    let dump = ok(
        store.offsite(&["pull", "--to", pulled.to_str().unwrap()]),
        "pull",
    );
    let dump = Path::new(dump.trim());
    assert_eq!(dump, pulled.join(&dump_name));
    let target = format!("{db}_o");
    let out = restore(
        &user,
        primary.port,
        dump,
        &pulled.join("binlogs"),
        &target,
        &["--to-gtid", &gtid],
    );
    assert!(
        out.status.success(),
        "db-restore from the bucket: {}",
        text(&out)
    );
    assert_eq!(ids(primary, &target), (0..=10).collect::<Vec<_>>());

    // Missing settings are a usage error naming the variable.
    let out = script("db-offsite").arg("list").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out).contains("OFFSITE_S3_BUCKET"), "{}", text(&out));
}
