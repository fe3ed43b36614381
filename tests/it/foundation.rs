//! Foundation: probes, GraphiQL served offline, a query on each backend, and read/write
//! routing proven on real MariaDB servers.

use crate::support::sql::db_run;
use adminql::db::DbConn;
use diesel::sql_types::{BigInt, Text};
use diesel_async::RunQueryDsl;
use serde_json::{Value, json};

use crate::support::mariadb::{Counts, cluster};
use crate::support::{Backend, TestApp};

#[derive(diesel::QueryableByName)]
struct Number {
    #[diesel(sql_type = BigInt)]
    v: i64,
}

async fn server_id(conn: &mut DbConn) -> i64 {
    let row: Number = db_run!(conn: {
        diesel::sql_query("SELECT CAST(@@server_id AS SIGNED) AS v").get_result(conn).await
    })
    .expect("server id");
    row.v
}

async fn insert_setting(conn: &mut DbConn, name: &str) -> diesel::QueryResult<usize> {
    db_run!(conn: {
        diesel::sql_query("INSERT INTO settings (name, value) VALUES (?, 'x')")
            .bind::<Text, _>(name)
            .execute(conn)
            .await
    })
}

async fn probes(backend: Backend) {
    let app = TestApp::on(backend).start().await;
    let health = app.client.get(app.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    // Probes answer whatever the Authorization header holds; only the API checks it.
    for path in ["/health", "/ready", "/metrics"] {
        let resp = app
            .client
            .get(app.url(path))
            .bearer_auth("stale-or-garbage")
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
    }
    let ready = app.client.get(app.url("/ready")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    let body: Value = ready.json().await.unwrap();
    assert_eq!(body["status"], "ready");
    assert_eq!(body["reads"]["ok"], true);
    assert_eq!(body["writes"]["ok"], true);
    assert!(
        body["pools"].as_array().is_some_and(|p| p.len() >= 2),
        "{body}"
    );
    let metrics = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(metrics.status(), 200);
    assert!(
        metrics
            .text()
            .await
            .unwrap()
            .contains("adminql_http_requests_total")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn probes_sqlite() {
    probes(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn probes_mysql() {
    probes(Backend::Mysql).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn graphiql_is_served_by_the_binary() {
    let app = TestApp::sqlite().start().await;
    let page = app.client.get(app.url("/graphiql")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    let mut assets = 0;
    for attr in ["src=\"", "href=\""] {
        for part in html.split(attr).skip(1) {
            let target = part.split('"').next().unwrap();
            assert!(
                target.starts_with("/graphiql/"),
                "asset from elsewhere: {target}"
            );
            let resp = app.client.get(app.url(target)).send().await.unwrap();
            assert_eq!(resp.status(), 200, "{target}");
            assert!(
                resp.bytes().await.unwrap().len() > 1000,
                "{target} is empty"
            );
            assets += 1;
        }
    }
    assert_eq!(assets, 5, "react, react-dom, graphiql js+css, app.js");
}

async fn permission_catalogue(backend: Backend) {
    let app = TestApp::on(backend).start().await;
    let body = app
        .gql(
            "query($f: PermissionFilter) { allPermissions(sortField: \"code\", sortOrder: \"DESC\", perPage: 3) { code }
               _allPermissionsMeta(filter: $f) { count } }",
            json!({ "f": { "q": "USER" } }),
        )
        .await;
    assert_eq!(
        body["data"]["allPermissions"],
        json!([{ "code": "user:write" }, { "code": "user:read" }, { "code": "system:read" }]),
        "{body}"
    );
    assert_eq!(body["data"]["_allPermissionsMeta"]["count"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn permission_catalogue_sqlite() {
    permission_catalogue(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn permission_catalogue_mysql() {
    permission_catalogue(Backend::Mysql).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_run_on_the_replica_and_writes_on_the_primary() {
    let app = TestApp::mysql().start().await;
    let db = &app.state.db;
    let cluster = cluster();

    let (mut read, _) = db.read().await.unwrap();
    assert_eq!(
        server_id(&mut read).await,
        i64::from(cluster.replica.server_id)
    );
    let (mut write, _) = db.write().await.unwrap();
    assert_eq!(
        server_id(&mut write).await,
        i64::from(cluster.primary.server_id)
    );

    // Through the real HTTP path: queries read the replica's copy of the table, never the primary's.
    let database = app.database.as_deref().unwrap();
    let primary_before = cluster.primary.rows_read(database, "permissions");
    let replica_before = cluster.replica.rows_read(database, "permissions");
    for _ in 0..20 {
        let body = app.gql("{ allPermissions { id } }", json!({})).await;
        assert_eq!(
            body["data"]["allPermissions"].as_array().map(Vec::len),
            Some(7),
            "{body}"
        );
    }
    assert_eq!(
        cluster.primary.rows_read(database, "permissions"),
        primary_before
    );
    assert!(cluster.replica.rows_read(database, "permissions") >= replica_before + 20 * 7);

    assert_eq!(insert_setting(&mut write, "routing-test").await.unwrap(), 1);
}

async fn replica_connections_refuse_writes(backend: Backend) {
    let app = TestApp::on(backend).start().await;
    let (mut read, _) = app.state.db.read().await.unwrap();
    let error = insert_setting(&mut read, "misrouted")
        .await
        .expect_err("a write on a read connection must fail");
    let message = error.to_string();
    assert!(
        message.contains("READ ONLY")
            || message.contains("read-only")
            || message.contains("readonly"),
        "{message}"
    );
    let (mut write, _) = app.state.db.write().await.unwrap();
    assert_eq!(insert_setting(&mut write, "routed").await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn replica_connections_refuse_writes_mysql() {
    replica_connections_refuse_writes(Backend::Mysql).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn reader_connections_refuse_writes_sqlite() {
    replica_connections_refuse_writes(Backend::Sqlite).await;
}

/// Pods of a new deployment start at once on an empty database: each sees no user, one
/// creates the admin, and the others must start anyway instead of exiting on the conflict.
#[tokio::test(flavor = "multi_thread")]
async fn pods_starting_together_create_one_bootstrap_admin() {
    use adminql::user::bootstrap::{Bootstrap, ensure_admin};
    let app = TestApp::mysql().start().await;
    let db = &app.state.db;
    {
        let (mut conn, _) = db.write().await.expect("primary");
        let conn: &mut DbConn = &mut conn;
        // Cascades to roles held and refresh tokens; the audit log keeps no key to users.
        db_run!(conn: { diesel::sql_query("DELETE FROM users").execute(conn).await })
            .expect("empty the users table");
    }
    let config = &app.state.config;
    // Both count no user before either inserts: hashing the password takes far longer than
    // a count, so the second insert meets the first one's row.
    let (a, b) = tokio::join!(ensure_admin(db, config), ensure_admin(db, config));
    let outcomes = [a.expect("first pod starts"), b.expect("second pod starts")];
    let created = outcomes
        .iter()
        .filter(|o| matches!(o, Bootstrap::Created { .. }))
        .count();
    assert_eq!(created, 1, "{outcomes:?}");
    let (mut conn, _) = db.write().await.expect("primary");
    let conn: &mut DbConn = &mut conn;
    let users: Number = db_run!(conn: {
        diesel::sql_query("SELECT COUNT(*) AS v FROM users").get_result(conn).await
    })
    .expect("count");
    assert_eq!(users.v, 1);
}
