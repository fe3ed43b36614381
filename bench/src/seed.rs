//! The data set: users, roles and who holds what, written straight into the primary with
//! bulk `INSERT`s once adminql has migrated the schema (which seeds the permission catalogue
//! and the `admin` role) and created its bootstrap admin.
//!
//! Every seeded user shares one real argon2id hash, taken from a user created through the
//! API, so the login scenario can sign in as any of them.

use std::fmt::Write as _;
use std::net::SocketAddr;

use anyhow::Context;
use hyper::header::HeaderValue;
use serde_json::json;

use crate::cluster::{Cluster, DATABASE, replica};
use crate::scenario::graphql;

/// Password of every seeded user.
pub const USER_PASSWORD: &str = "bench-user-password";

/// How big a data set to build.
#[derive(Clone, Copy, Debug, serde::Serialize)]
pub struct Size {
    /// Users in total, the bootstrap admin included.
    pub users: usize,
    /// Roles besides `admin`.
    pub roles: usize,
}

/// What the scenarios need to know about the seeded data.
#[derive(Debug)]
pub struct Dataset {
    /// The bootstrap admin, whose token drives every scenario but `login`.
    pub admin_id: i64,
    /// Ids of the seeded users (not the admin): targets of `User(id)` and `updateUser`.
    pub user_ids: Vec<i64>,
    /// Their emails, for `login`.
    pub emails: Vec<String>,
    pub password: String,
    /// Users in the table (`_allUsersMeta.count`).
    pub total_users: i64,
}

const FIRST: &[&str] = &[
    "Ada", "Ben", "Chloe", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kofi",
    "Lena", "Mateo", "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Viktor",
    "Wen", "Ximena", "Yusuf", "Zoe",
];
const LAST: &[&str] = &[
    "Andersen", "Bauer", "Costa", "Dubois", "Eriksen", "Fischer", "García", "Hansen", "Ito",
    "Jensen", "Kowalski", "López", "Müller", "Nakamura", "Okafor", "Petrov", "Rossi", "Schmidt",
    "Tanaka", "Novak", "Weber", "Yilmaz", "Zhang",
];

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''"))
}

/// Seeds `size` through the API (one user, for a real hash) and SQL (everything else), and
/// waits until the replica has it all.
pub async fn seed(
    cluster: &Cluster,
    addr: SocketAddr,
    admin_token: &HeaderValue,
    size: Size,
    rng: &mut fastrand::Rng,
) -> anyhow::Result<Dataset> {
    let started = std::time::Instant::now();
    // One user through the API: its stored argon2id hash is reused for all the others.
    let created = graphql(
        addr,
        Some(admin_token),
        "mutation($email: String!, $password: String!) { createUser(email: $email, name: \"Seed Template\", password: $password) { id } }",
        json!({ "email": "user00000@bench.example", "password": USER_PASSWORD }),
    )
    .await?;
    let template_id: i64 = created["createUser"]["id"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .context("createUser returned no id")?;
    let hash = cluster
        .primary
        .sql(&format!(
            "SELECT password_hash FROM {DATABASE}.users WHERE id = {template_id}"
        ))?
        .trim()
        .to_owned();
    anyhow::ensure!(hash.starts_with("$argon2id$"), "unexpected hash {hash}");
    let existing: usize = cluster
        .primary
        .number(&format!("SELECT COUNT(*) FROM {DATABASE}.users"))?
        .try_into()?;
    let permission_ids = ids(cluster, "SELECT id FROM permissions ORDER BY id")?;

    let mut sql = format!("USE {DATABASE};\n");
    // Roles, each with 1-4 permissions of the catalogue.
    for chunk in (1..=size.roles).collect::<Vec<_>>().chunks(100) {
        sql.push_str("INSERT INTO roles (name, description, created_at, updated_at) VALUES\n");
        let rows: Vec<String> = chunk
            .iter()
            .map(|i| {
                format!(
                    "('role-{i:03}', 'Benchmark role {i}', UTC_TIMESTAMP(6) - INTERVAL {} DAY, UTC_TIMESTAMP(6))",
                    rng.u32(30..400)
                )
            })
            .collect();
        sql.push_str(&rows.join(",\n"));
        sql.push_str(";\n");
    }
    sql.push_str("INSERT INTO role_permissions (role_id, permission_id)\nVALUES ");
    // Role ids are assigned in insertion order after the existing ones; resolve them by name.
    let mut pairs = Vec::new();
    for i in 1..=size.roles {
        let mut perms = permission_ids.clone();
        rng.shuffle(&mut perms);
        for p in perms.iter().take(rng.usize(1..=4)) {
            pairs.push(format!(
                "((SELECT id FROM roles r WHERE r.name = 'role-{i:03}'), {p})"
            ));
        }
    }
    sql.push_str(&pairs.join(",\n"));
    sql.push_str(";\n");

    // Users, in batches of 500 rows per INSERT.
    let new_users = size.users.saturating_sub(existing);
    let hash = quote(&hash);
    let first_seq = 1;
    for chunk in (first_seq..first_seq + new_users)
        .collect::<Vec<_>>()
        .chunks(500)
    {
        sql.push_str("INSERT INTO users (email, name, password_hash, active, token_version, created_at, updated_at) VALUES\n");
        let rows: Vec<String> = chunk
            .iter()
            .map(|n| {
                let name = format!("{} {}", FIRST[rng.usize(..FIRST.len())], LAST[rng.usize(..LAST.len())]);
                let age = rng.u32(0..365 * 24 * 3600);
                format!(
                    "('user{n:05}@bench.example', {}, {hash}, 1, 0, UTC_TIMESTAMP(6) - INTERVAL {age} SECOND, UTC_TIMESTAMP(6) - INTERVAL {age} SECOND)",
                    quote(&name)
                )
            })
            .collect();
        sql.push_str(&rows.join(",\n"));
        sql.push_str(";\n");
    }
    cluster
        .primary
        .script(&sql)
        .context("seeding roles and users")?;

    // 1-3 of the new roles for every user but the admin (who keeps `admin` only).
    let role_ids = ids(
        cluster,
        "SELECT id FROM roles WHERE name LIKE 'role-%' ORDER BY id",
    )?;
    let users = cluster.primary.sql(&format!(
        "SELECT id, email FROM {DATABASE}.users WHERE email LIKE '%@bench.example' AND email <> '{}' ORDER BY id",
        crate::server::ADMIN_EMAIL
    ))?;
    let mut user_ids = Vec::new();
    let mut emails = Vec::new();
    for line in users.lines() {
        let (id, email) = line.split_once('\t').context("id and email")?;
        user_ids.push(id.parse::<i64>()?);
        emails.push(email.to_owned());
    }
    let mut sql = format!("USE {DATABASE};\n");
    for chunk in user_ids.chunks(1000) {
        sql.push_str("INSERT INTO user_roles (user_id, role_id) VALUES ");
        let mut first = true;
        for id in chunk {
            let mut roles = role_ids.clone();
            rng.shuffle(&mut roles);
            for role in roles.iter().take(rng.usize(1..=3)) {
                if !first {
                    sql.push(',');
                }
                first = false;
                let _ = write!(sql, "({id},{role})");
            }
        }
        sql.push_str(";\n");
    }
    sql.push_str("ANALYZE TABLE users, roles, user_roles, role_permissions, permissions;\n");
    cluster.primary.script(&sql).context("seeding user_roles")?;
    cluster.wait_for_replicas(std::time::Duration::from_secs(120))?;

    let total_users =
        replica(cluster).number(&format!("SELECT COUNT(*) FROM {DATABASE}.users"))? as i64;
    eprintln!(
        "bench: seeded {total_users} users, {} roles, {} user_roles in {:.1}s",
        role_ids.len(),
        replica(cluster).number(&format!("SELECT COUNT(*) FROM {DATABASE}.user_roles"))?,
        started.elapsed().as_secs_f64()
    );
    let admin_id = cluster.primary.number(&format!(
        "SELECT id FROM {DATABASE}.users WHERE email = '{}'",
        crate::server::ADMIN_EMAIL
    ))? as i64;
    Ok(Dataset {
        admin_id,
        user_ids,
        emails,
        password: USER_PASSWORD.to_owned(),
        total_users,
    })
}

fn ids(cluster: &Cluster, sql: &str) -> anyhow::Result<Vec<i64>> {
    cluster
        .primary
        .sql(&format!("USE {DATABASE}; {sql}"))?
        .lines()
        .map(|l| l.trim().parse::<i64>().map_err(Into::into))
        .collect()
}
