//! The Markdown form of a [`Report`]: the whole of BENCHMARKS.md.

use std::fmt::Write as _;

use crate::compare::Compared;
use crate::report::Report;

fn table(out: &mut String, header: &[&str], rows: &[Vec<String>]) {
    let _ = writeln!(out, "| {} |", header.join(" | "));
    let _ = writeln!(
        out,
        "|{}|",
        header.iter().map(|_| "---").collect::<Vec<_>>().join("|")
    );
    for row in rows {
        let _ = writeln!(out, "| {} |", row.join(" | "));
    }
    out.push('\n');
}

pub fn markdown(report: &Report, header: &[&str], rows: &[[String; 14]]) -> String {
    let m = &report.machine;
    let s = &report.settings;
    let mut out = String::new();
    out.push_str("# Benchmarks\n\n");
    out.push_str(
        "Written by `bench/run --markdown BENCHMARKS.md` (see [bench/README.md](bench/README.md)); \
         every number below is the program's output, none is typed by hand.\n\n",
    );
    let _ = writeln!(out, "- **Date:** {}", report.date);
    let _ = writeln!(out, "- **Commit:** `{}`", report.commit);
    let _ = writeln!(
        out,
        "- **Machine:** {} × {} ({} GiB RAM), {}, Linux {}, MariaDB {}. The load generator, \
         adminql and both MariaDB servers share these {} cores.",
        m.cores, m.cpu, m.memory_gib, m.os, m.kernel, m.mariadb, m.cores
    );
    let _ = writeln!(
        out,
        "- **Data set:** {} users, {} roles besides `admin`, the permission catalogue of the \
         migrations, 1–3 roles per user; one MariaDB primary and one GTID replica (reads go to \
         the replica, writes to the primary).",
        s.users, s.roles
    );
    let _ = writeln!(
        out,
        "- **Run:** {} concurrent clients for saturation (adminql, direct SQL and the \
         hand-written service in {} alternating slices each), then each at a fixed rate of half \
         adminql's saturating throughput for latency; {} s measured per scenario and mode after \
         {} s of warm-up ({} s once at the start); `DB_POOL_SIZE={}` for adminql and both \
         baselines alike. Wall time {:.0} s.",
        s.concurrency,
        s.rounds,
        s.duration_s,
        s.warmup_s,
        s.initial_warmup_s,
        s.pool_size,
        report.wall_seconds
    );
    let _ = writeln!(out, "- **Reproduce:** `{}`", report.command);
    let (avg, max) = report.other_load();
    let (steal, steal_max) = report.steal();
    let _ = writeln!(
        out,
        "\nThe machine is shared with other work (compiles, test suites) and is a virtual \
         machine, so absolute requests per second move from run to run: during these runs \
         other processes used {:.0}% of its CPU on average (at most {:.0}% during one run) and \
         the hypervisor took {:.0}% (at most {:.0}%). What matters is the ratio to the two \
         baselines, measured in the same run on the same servers, in alternating slices of {} s \
         so that outside load weighs on all three alike.\n",
        avg * 100.0,
        max * 100.0,
        steal * 100.0,
        steal_max * 100.0,
        report.settings.duration_s / report.settings.rounds as f64
    );

    out.push_str("## Results\n\n");
    let rows: Vec<Vec<String>> = rows.iter().map(|r| r.to_vec()).collect();
    table(&mut out, header, &rows);
    out.push_str(
        "- *direct SQL*: the minimal baseline of issue 16, a hand-written mysql_async client in \
         the load generator's process at the same concurrency, with as many pooled connections, \
         that sends the fewest statements giving the same answer with the same guarantees (one \
         auth statement for the caller's active flag, token version and permission codes, then \
         the data statements; prepared; reads to the replica, writes to the primary, \
         `updateUser` in a transaction with its audit row and the consistency token; the list \
         total cached for 1 s like adminql's), written from the schema, not from adminql's \
         log; no HTTP, JSON, JWT or GraphQL. At saturation, and at adminql's fixed rate to show \
         the latency the database alone gives there.\n\
         - *hand-written service*: the second baseline, a minimal HTTP service \
         (`adminql-bench service`, its own process like adminql, tokio with one worker per \
         CPU) that sends the same statements as *direct SQL* from the same code, behind \
         HTTP/1.1 keep-alive (hyper), the same JSON request parsed into typed fields, the same \
         HS256 token verified with jsonwebtoken, and the same JSON answer, checked by the same \
         body checks; it picks the operation by its document text instead of parsing GraphQL, \
         and has no logs or metrics (bench/README.md).\n\
         - *vs direct SQL*, *vs service*: the row's saturating throughput as a share of that \
         baseline's; issue 16's targets are against direct SQL.\n\
         - *p50/p95/p99*: client-side latency; at a fixed rate it counts from when the request \
         was due, so queueing shows.\n\
         - *failed*: responses that were not HTTP 200 with the expected data and no `errors`.\n\
         - *stmts/op*: statements the client's MariaDB account ran per request on both servers \
         (`information_schema.USER_STATISTICS`, `--userstat=1`); in parentheses \
         `Com_stmt_prepare` per request.\n\
         - *CPU s/1k req*: CPU seconds (user + system, `/proc/PID/stat`) per 1,000 requests: \
         *server*, of adminql's or the service's process (the direct client runs in the load \
         generator); *DB*, of both `mariadbd` together.\n\
         - *peak RSS*: the server process's `VmHWM` during the run (reset before each run).\n\n",
    );

    out.push_str("## Targets\n\n");
    let checks: Vec<Vec<String>> = report
        .checks
        .iter()
        .map(|c| {
            vec![
                c.target.clone(),
                c.measured.clone(),
                match (c.informational, c.met) {
                    (true, _) => "info",
                    (false, true) => "met",
                    (false, false) => "**missed**",
                }
                .to_owned(),
            ]
        })
        .collect();
    table(&mut out, &["target", "measured", ""], &checks);

    if !report.rotation_waits.is_empty() || !report.adminql_warnings.is_empty() {
        out.push_str("## adminql's routing and log during the run\n\n");
        for (before, seconds) in &report.rotation_waits {
            let _ = writeln!(
                out,
                "- Waited {seconds:.1} s for adminql to put the replica back in its read rotation ({before})."
            );
        }
        for (message, n) in &report.adminql_warnings {
            let _ = writeln!(out, "- adminql logged {n} × `{message}`");
        }
        out.push('\n');
    }
    out.push_str("## Statements per `allUsers` request by page size\n\n");
    let costs: Vec<Vec<String>> = report
        .page_costs
        .iter()
        .map(|c| {
            vec![
                c.per_page.to_string(),
                c.requests.to_string(),
                format!("{:.2}", c.statements_per_op),
                format!("{:.2}", c.prepares_per_op),
            ]
        })
        .collect();
    table(
        &mut out,
        &[
            "perPage",
            "requests",
            "statements/request",
            "prepares/request",
        ],
        &costs,
    );
    let (b, a) = (
        report.prepared_stmt_count_before,
        report.prepared_stmt_count_after,
    );
    let _ = writeln!(
        out,
        "`Prepared_stmt_count` before the first scenario / after the last: primary {} / {}, \
         replica {} / {}.\n",
        b.primary, a.primary, b.replica, a.replica
    );

    out.push_str("## Query plans of the minimal scenario 2 (replica)\n\n");
    out.push_str(
        "`EXPLAIN` of the baseline's statements for an `allUsers(perPage: 20, sortField: \"email\")` + \
         `_allUsersMeta` request, at pages the scenario reads.\n\n```text\n",
    );
    for p in &report.plans {
        let _ = writeln!(out, "{}\n{}\n", p.label, p.plan);
    }
    out.push_str("```\n\n");
    out.push_str("## Statements adminql sends vs the minimum\n\n");
    out.push_str(
        "One request of each kind with the general log on, from adminql and from the baseline \
         (the fewest statements that give the same answer; literals replaced by `?`). \
         Statements are `Query` and `Execute` commands; prepares and closes are counted under \
         load (*stmts/op* above). Informational: the targets count statements under load.\n\n",
    );
    let compared: Vec<Vec<String>> = report
        .compared
        .iter()
        .map(|c| {
            vec![
                format!("{:?}", c.op),
                c.adminql_statements.to_string(),
                c.direct_statements.to_string(),
                Compared::cell(&c.only_adminql),
                Compared::cell(&c.only_direct),
            ]
        })
        .collect();
    table(
        &mut out,
        &[
            "operation",
            "adminql",
            "minimum",
            "only adminql sends",
            "only the minimum sends",
        ],
        &compared,
    );
    out.push_str("Both logs in full:\n\n```text\n");
    for c in &report.compared {
        out.push_str(&c.text());
    }
    out.push_str("```\n");
    out
}
