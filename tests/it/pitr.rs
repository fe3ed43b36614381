//! Point-in-time recovery on real MariaDB: `scripts/db-binlog-archive` streams the shared
//! primary's binlogs (killed and restarted mid-stream), `scripts/db-backup` takes the base dump,
//! and `scripts/db-restore --binlogs` brings a copy, under another database name, back to a
//! moment (`--to-time`, UTC) or a transaction (`--to-gtid`) before the table was dropped.

use std::time::Duration;

use crate::pitr_support::{
    Archiver, assert_complete_files_match, backup, binlog_files, caught_up, ids, insert, metric,
    metric_value, restore, run, server_binlogs, source_database, text, wait_for,
};
use crate::support::mariadb::{Cluster, cluster};

#[test]
fn binlog_archive_restores_to_a_time_and_a_gtid_across_an_archiver_kill() {
    let cluster = cluster();
    let primary = &cluster.primary;
    let db = format!("pitr_{}", std::process::id());
    let user = source_database(primary, &db);
    let work = tempfile::tempdir().unwrap();
    let archive = work.path().join("binlogs");
    let metrics = work.path().join("archiver.prom");
    let dump = work.path().join("base.sql.gz");
    let port = primary.port;

    let mut archiver = Archiver::start(&user, port, &archive, &metrics);
    wait_for("the archiver to catch up", Duration::from_secs(60), || {
        caught_up(primary, &archive).then_some(())
    });

    backup(&user, port, &db, &dump);

    // Batch A, with a rotation (a complete file) and the archiver killed mid-stream: while a
    // writer commits rows 1 to 20 one by one, and with rows it has not streamed yet.
    primary.sql("FLUSH BINARY LOGS").unwrap();
    wait_for(
        "a complete file after the rotation",
        Duration::from_secs(30),
        || (!binlog_files(&archive).is_empty()).then_some(()),
    );
    let writer = {
        let (cluster, db) = (cluster.clone(), db.clone());
        std::thread::spawn(move || {
            for id in 1..=20 {
                insert(&cluster.primary, &db, id..=id, "A");
            }
        })
    };
    wait_for(
        "the archiver to stream part of batch A",
        Duration::from_secs(30),
        || (ids(primary, &db).len() > 5).then_some(()),
    );
    archiver.kill("-KILL");
    writer.join().unwrap();
    assert_complete_files_match(primary, &archive);
    let gtid_30 = {
        insert(primary, &db, 21..=29, "A");
        insert(primary, &db, 30..=30, "A")
    };
    insert(primary, &db, 31..=40, "A");
    let mut archiver = Archiver::start(&user, port, &archive, &metrics);
    primary.sql("FLUSH BINARY LOGS").unwrap();

    // T: a second on the server's clock after batch A (binlog timestamps have whole seconds).
    let after_a = primary.sql("SELECT UTC_TIMESTAMP()").unwrap();
    let t = wait_for("the server's clock to tick", Duration::from_secs(5), || {
        let now = primary.sql("SELECT UTC_TIMESTAMP()").unwrap();
        (now != after_a).then(|| now.trim().to_owned())
    });
    insert(primary, &db, 100..=110, "B");
    primary.sql(&format!("USE {db}; DROP TABLE t")).unwrap();
    wait_for(
        "the archiver to catch up again",
        Duration::from_secs(60),
        || caught_up(primary, &archive).then_some(()),
    );
    assert_complete_files_match(primary, &archive);

    // The lag metric: everything up to T (and later) is archived, and the lag is a small number.
    let t_epoch: f64 = primary
        .sql(&format!("SELECT UNIX_TIMESTAMP('{t}')"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    // Once the archive has caught up, the metrics written next show everything up to that moment
    // archived, and the lag (the RPO on the archive's volume) is the time the archiver takes to
    // notice: a fraction of its 1 s interval; a few seconds at most on a loaded machine.
    let seen_caught_up = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let lag = wait_for(
        "the metrics to show everything archived up to the catch-up",
        Duration::from_secs(30),
        || {
            let text = std::fs::read_to_string(&metrics).ok()?;
            let last = metric_value(
                &text,
                "adminql_binlog_archiver_last_archived_timestamp_seconds",
            )?;
            let lag = metric_value(&text, "adminql_binlog_archiver_lag_seconds")?;
            (last >= t_epoch.max(seen_caught_up)).then_some(lag)
        },
    );
    eprintln!("pitr: archiver lag {lag:.3}s once caught up after a burst of writes (--interval 1)");
    assert!(
        (0.0..3.0).contains(&lag),
        "lag {lag} s with the archive caught up"
    );
    assert_eq!(metric(&metrics, "adminql_binlog_archiver_up"), Some(1.0));

    // Restore to T under another name: the dump's row 0 and batch A, none of batch B.
    let to_time = format!("{db}_t");
    let out = restore(&user, port, &dump, &archive, &to_time, &["--to-time", &t]);
    assert!(out.status.success(), "db-restore --to-time: {}", text(&out));
    assert_eq!(
        ids(primary, &to_time),
        (0..=40).collect::<Vec<_>>(),
        "{}",
        text(&out)
    );

    // Restore to the GTID of row 30's transaction: exactly rows 0 to 30.
    let to_gtid = format!("{db}_g");
    let out = restore(
        &user,
        port,
        &dump,
        &archive,
        &to_gtid,
        &["--to-gtid", &gtid_30],
    );
    assert!(out.status.success(), "db-restore --to-gtid: {}", text(&out));
    assert_eq!(
        ids(primary, &to_gtid),
        (0..=30).collect::<Vec<_>>(),
        "{}",
        text(&out)
    );

    // Under its own name (the dropped table's database), to T again.
    let out = restore(
        &user,
        port,
        &dump,
        &archive,
        &db,
        &["--to-time", &t, "--drop-existing"],
    );
    assert!(out.status.success(), "db-restore same name: {}", text(&out));
    assert_eq!(ids(primary, &db), (0..=40).collect::<Vec<_>>());

    // A GTID the archive does not reach is refused before anything changes.
    let beyond = format!("0-1-{}", u64::MAX / 2);
    let out = restore(
        &user,
        port,
        &dump,
        &archive,
        &format!("{db}_x"),
        &["--to-gtid", &beyond],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("the archive ends at"), "{}", text(&out));
    let exists = primary
        .sql(&format!("SHOW DATABASES LIKE '{db}\\_x'"))
        .unwrap();
    assert!(exists.trim().is_empty(), "a refused restore created {db}_x");

    // A dump whose header does not name its database (another tool's, or an edited one): the
    // replay cannot tell which events to keep and refuses; --source-database names it.
    let anonymous = work.path().join("anonymous.sql.gz");
    let rewritten = std::process::Command::new("sh")
        .arg("-c")
        .arg(r#"gzip -dc "$1" | sed 's/^\(-- Host: .*\)Database: .*$/\1/' | gzip > "$2""#)
        .args(["sh", dump.to_str().unwrap(), anonymous.to_str().unwrap()])
        .status()
        .unwrap();
    assert!(rewritten.success());
    let to_source = format!("{db}_s");
    let out = restore(
        &user,
        port,
        &anonymous,
        &archive,
        &to_source,
        &["--to-gtid", &gtid_30],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("pass --source-database"),
        "{}",
        text(&out)
    );
    let out = restore(
        &user,
        port,
        &anonymous,
        &archive,
        &to_source,
        &["--to-gtid", &gtid_30, "--source-database", &db],
    );
    assert!(
        out.status.success(),
        "db-restore --source-database: {}",
        text(&out)
    );
    assert_eq!(
        ids(primary, &to_source),
        (0..=30).collect::<Vec<_>>(),
        "{}",
        text(&out)
    );

    archiver.kill("-TERM");
    assert_complete_files_match(primary, &archive);
}

#[test]
fn db_binlog_archive_and_db_restore_reject_bad_usage() {
    for (name, args, message) in [
        (
            "db-binlog-archive",
            vec!["--user", "u"],
            "--dir DIR is required",
        ),
        (
            "db-binlog-archive",
            vec!["--user", "u", "--dir", "/tmp/x", "--interval", "0"],
            "--interval",
        ),
        (
            "db-restore",
            vec![
                "--user",
                "u",
                "--database",
                "d",
                "--binlogs",
                "/tmp",
                "f.sql.gz",
            ],
            "--binlogs needs --to-time, --to-gtid or --to-end",
        ),
        (
            "db-restore",
            vec![
                "--user",
                "u",
                "--database",
                "d",
                "--binlogs",
                "/tmp",
                "--to-time",
                "yesterday",
                "f",
            ],
            "YYYY-MM-DD HH:MM:SS",
        ),
        (
            "db-restore",
            vec!["--user", "u", "--database", "d", "--to-gtid", "0-1-2", "f"],
            "need --binlogs",
        ),
    ] {
        let out = run(name, &args);
        assert_eq!(
            out.status.code(),
            Some(2),
            "{name} {args:?}: {}",
            text(&out)
        );
        assert!(
            text(&out).contains(message),
            "{name} {args:?}: {}",
            text(&out)
        );
    }
    let help = run("db-binlog-archive", &["--help"]);
    assert!(help.status.success());
    assert!(text(&help).contains("adminql_binlog_archiver_lag_seconds"));
}

/// An archiver killed mid-write leaves the last event of its file in progress cut short: the
/// restore replays everything before it, and rolls back the transaction it cuts. A private
/// primary, so that the last event is this test's.
#[test]
fn a_cut_last_event_in_the_archive_is_left_out_of_the_replay() {
    let cluster = Cluster::private();
    let primary = &cluster.primary;
    let db = "cut_tail";
    let user = source_database(primary, db);
    let work = tempfile::tempdir().unwrap();
    let (archive, dump) = (work.path().join("binlogs"), work.path().join("base.sql.gz"));
    let mut archiver = Archiver::start(&user, primary.port, &archive, &work.path().join("m.prom"));
    wait_for("the archiver to catch up", Duration::from_secs(60), || {
        caught_up(primary, &archive).then_some(())
    });
    backup(&user, primary.port, db, &dump);
    let gtid_10 = insert(primary, db, 1..=10, "A");
    wait_for(
        "the archiver to stream the rows",
        Duration::from_secs(60),
        || caught_up(primary, &archive).then_some(()),
    );
    archiver.kill("-KILL");
    // Cut the last event (row 10's commit) as a kill during its write would.
    let (name, size) = binlog_files(&archive.join(".partial")).pop().unwrap();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(archive.join(".partial").join(name))
        .unwrap();
    file.set_len(size - 5).unwrap();

    let out = restore(
        &user,
        primary.port,
        &dump,
        &archive,
        "cut_tail_r",
        &["--to-end"],
    );
    assert!(out.status.success(), "db-restore: {}", text(&out));
    assert!(text(&out).contains("cut short"), "{}", text(&out));
    assert_eq!(
        ids(primary, "cut_tail_r"),
        (0..=9).collect::<Vec<_>>(),
        "{}",
        text(&out)
    );

    // Row 10's transaction is not whole in the archive: a restore to it is refused.
    let out = restore(
        &user,
        primary.port,
        &dump,
        &archive,
        "cut_tail_g",
        &["--to-gtid", &gtid_10],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("the archive ends at"), "{}", text(&out));
}

/// The archiver's local retention (`--retain-days`, `--backups`): files finished longer ago than
/// the retention are deleted, except the ones a restore from the oldest dump still needs and the
/// newest complete file (the resume point); with no dump to go by, nothing is deleted. A private
/// primary, so that the binlog files are this test's.
#[test]
fn archive_retention_keeps_what_the_oldest_dump_needs() {
    let cluster = Cluster::private();
    let primary = &cluster.primary;
    let db = "retained";
    let user = source_database(primary, db);
    let work = tempfile::tempdir().unwrap();
    let (archive, backups) = (work.path().join("binlogs"), work.path().join("backups"));
    std::fs::create_dir(&backups).unwrap();
    let metrics = work.path().join("m.prom");
    let mut archiver = Archiver::start(&user, primary.port, &archive, &metrics);
    // Three complete files before the dump, the dump, then three more.
    for _ in 0..3 {
        primary.sql("FLUSH BINARY LOGS").unwrap();
    }
    wait_for("the archiver to catch up", Duration::from_secs(60), || {
        caught_up(primary, &archive).then_some(())
    });
    let dump = backups.join(format!("{db}-20990101T000000Z.sql.gz"));
    backup(&user, primary.port, db, &dump);
    let dump_file = server_binlogs(primary).last().unwrap().0.clone();
    insert(primary, db, 1..=5, "A");
    for _ in 0..3 {
        primary.sql("FLUSH BINARY LOGS").unwrap();
    }
    insert(primary, db, 6..=10, "A");
    wait_for("the archiver to catch up", Duration::from_secs(60), || {
        caught_up(primary, &archive).then_some(())
    });
    archiver.kill("-TERM");
    let before: Vec<String> = binlog_files(&archive).into_iter().map(|(n, _)| n).collect();
    assert!(before.len() >= 6, "{before:?}");
    assert!(before.contains(&dump_file), "{dump_file} in {before:?}");
    // Every archived file (and the dump) finished 30 days ago.
    let aged = std::process::Command::new("touch")
        .args(["-d", "30 days ago"])
        .args(before.iter().map(|n| archive.join(n)))
        .arg(&dump)
        .status()
        .unwrap();
    assert!(aged.success());
    let log = archive.with_extension("log");
    let retention_runs = || {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .matches("retention: ")
            .count()
    };

    // No dump to go by: nothing is deleted.
    let empty = work.path().join("no-dumps");
    std::fs::create_dir(&empty).unwrap();
    let runs = retention_runs();
    let retain = ["--retain-days", "7", "--backups"];
    let mut archiver = Archiver::start_with(
        &user,
        primary.port,
        &archive,
        &metrics,
        &[&retain[..], &[empty.to_str().unwrap()]].concat(),
    );
    wait_for("the retention to run", Duration::from_secs(60), || {
        (retention_runs() > runs).then_some(())
    });
    archiver.kill("-TERM");
    let names = |dir: &std::path::Path| -> Vec<String> {
        binlog_files(dir).into_iter().map(|(n, _)| n).collect()
    };
    assert!(
        std::fs::read_to_string(&log)
            .unwrap()
            .contains("no dump in"),
        "{}",
        std::fs::read_to_string(&log).unwrap()
    );
    let kept = names(&archive);
    assert!(
        before.iter().all(|n| kept.contains(n)),
        "deleted with no dump: {before:?} -> {kept:?}"
    );

    // With the dump: the files before the one its position falls in go, the rest stay.
    let runs = retention_runs();
    let mut archiver = Archiver::start_with(
        &user,
        primary.port,
        &archive,
        &metrics,
        &[&retain[..], &[backups.to_str().unwrap()]].concat(),
    );
    wait_for("the retention to delete", Duration::from_secs(60), || {
        (retention_runs() > runs
            && std::fs::read_to_string(&log)
                .unwrap()
                .contains(" file(s) deleted, "))
        .then_some(())
    });
    wait_for(
        "the pruned count in the metrics",
        Duration::from_secs(30),
        || {
            let pruned = metric(&metrics, "adminql_binlog_archiver_pruned_files_total")?;
            (pruned > 0.0).then_some(pruned)
        },
    );
    let kept = names(&archive);
    let expected: Vec<String> = before
        .iter()
        .filter(|n| n.as_str() >= dump_file.as_str())
        .cloned()
        .collect();
    assert!(
        expected.iter().all(|n| kept.contains(n)),
        "the dump needs {expected:?}; kept {kept:?}"
    );
    assert!(
        before
            .iter()
            .filter(|n| n.as_str() < dump_file.as_str())
            .all(|n| !kept.contains(n)),
        "older than the dump's file {dump_file} and than the retention, yet kept: {kept:?}"
    );
    // The pruned archive still restores the dump to its end, and the archiver resumed after it.
    insert(primary, db, 11..=12, "B");
    wait_for("the archiver to catch up", Duration::from_secs(60), || {
        caught_up(primary, &archive).then_some(())
    });
    archiver.kill("-TERM");
    let out = restore(
        &user,
        primary.port,
        &dump,
        &archive,
        "retained_r",
        &["--to-end"],
    );
    assert!(out.status.success(), "db-restore: {}", text(&out));
    assert_eq!(ids(primary, "retained_r"), (0..=12).collect::<Vec<_>>());
}
