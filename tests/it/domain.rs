//! The admin domain over GraphQL, on MariaDB (primary + replica) and on SQLite: every
//! operation, every error code, transactional rollback, guardrails, and the statement count
//! of a nested list.

use adminql::clock::now;
use adminql::db::DbConn;
use adminql::user::model::{NewUser, UserRow};
use adminql::user::repo as user_repo;
use serde_json::{Value, json};

use crate::support::code;
use crate::support::mariadb::{Counts, cluster};
use crate::support::{ADMIN_EMAIL, Backend, TestApp};

fn field(body: &Value) -> &str {
    body["errors"][0]["extensions"]["field"]
        .as_str()
        .unwrap_or("<none>")
}

/// Asserts that `body` is refused as bad input, naming `expected` as the offending field.
#[track_caller]
fn assert_bad_input(body: &Value, expected: &str) {
    assert_eq!(
        (code(body), field(body)),
        ("BAD_USER_INPUT", expected),
        "{body}"
    );
}

fn ok(body: Value) -> Value {
    assert!(body["errors"].is_null(), "unexpected errors: {body}");
    body["data"].clone()
}

const CREATE_USER: &str = "mutation($e: String!, $n: String!, $p: String!, $a: Boolean, $r: [ID!]) {
    createUser(email: $e, name: $n, password: $p, active: $a, rolesIds: $r) { id email name active roles { name } } }";

async fn create_user(app: &TestApp, email: &str, name: &str, roles: Value) -> Value {
    app.gql(
        CREATE_USER,
        json!({ "e": email, "n": name, "p": "password-1234", "r": roles }),
    )
    .await
}

/// Inserts an active user straight through the repository: no GraphQL, no audit row.
async fn insert_user(conn: &mut DbConn, email: &str, name: &str, password_hash: &str) -> UserRow {
    let at = now();
    let user = NewUser {
        email,
        name,
        password_hash,
        active: true,
        token_version: 0,
        created_at: at,
        updated_at: at,
    };
    user_repo::insert(conn, &user).await.unwrap()
}

async fn role_id(app: &TestApp, name: &str) -> String {
    let data = ok(app
        .gql(
            "query($n: String) { allRoles(filter: { name: $n }) { id } }",
            json!({ "n": name }),
        )
        .await);
    data["allRoles"][0]["id"]
        .as_str()
        .expect("role exists")
        .to_owned()
}

async fn users_crud(backend: Backend) {
    let app = TestApp::on(backend).start().await;
    let editor = ok(app
        .gql(
            "mutation { createRole(name: \"editor\", description: \"Edits users\", permissionsIds: [\"1\", \"2\"]) { id name description permissions { code } permissionsIds } }",
            json!({}),
        )
        .await);
    let editor_id = editor["createRole"]["id"].as_str().unwrap().to_owned();
    assert_eq!(
        editor["createRole"]["permissions"],
        json!([{ "code": "user:read" }, { "code": "user:write" }])
    );

    let mut ids = Vec::new();
    for (email, name) in [
        ("Zoe@Example.com", "Zoe"),
        ("amy@example.com", "Amy"),
        ("bob@example.com", "Bob"),
    ] {
        let data = ok(create_user(&app, email, name, json!([editor_id])).await);
        assert_eq!(data["createUser"]["roles"], json!([{ "name": "editor" }]));
        ids.push(data["createUser"]["id"].as_str().unwrap().to_owned());
    }
    assert_eq!(
        ok(app
            .gql(
                "query($id: ID!) { User(id: $id) { email } }",
                json!({ "id": ids[0] })
            )
            .await)["User"]["email"],
        "zoe@example.com"
    );

    // getList: sort, filter q, page 2 (zero-based page 1), meta ignores pagination.
    let list = ok(app
        .gql(
            "{ allUsers(page: 1, perPage: 2, sortField: \"email\", sortOrder: \"ASC\") { email }
               _allUsersMeta(page: 1, perPage: 2) { count }
               q: allUsers(filter: { q: \"ZO\" }) { email }
               byRole: allUsers(filter: { role_id: \"ROLE\" }, sortField: \"name\", sortOrder: \"DESC\") { name }
               recent: _allUsersMeta(filter: { createdAt_gte: \"2000-01-01\", active: true }) { count } }"
                .replace("ROLE", &editor_id)
                .as_str(),
            json!({}),
        )
        .await);
    assert_eq!(
        list["allUsers"],
        json!([{ "email": "bob@example.com" }, { "email": "zoe@example.com" }])
    );
    assert_eq!(list["_allUsersMeta"]["count"], 4);
    assert_eq!(list["q"], json!([{ "email": "zoe@example.com" }]));
    assert_eq!(
        list["byRole"],
        json!([{ "name": "Zoe" }, { "name": "Bob" }, { "name": "Amy" }])
    );
    assert_eq!(list["recent"]["count"], 4);

    // getMany sends only filter.ids and must get them all.
    let many = ok(app
        .gql(
            "query($ids: [ID!]) { allUsers(filter: { ids: $ids }) { id } }",
            json!({ "ids": ids }),
        )
        .await);
    assert_eq!(many["allUsers"].as_array().unwrap().len(), 3);

    let updated = ok(app
        .gql(
            "mutation($id: ID!) { updateUser(id: $id, name: \"Zoë\", active: false, rolesIds: []) { name active roles { id } } }",
            json!({ "id": ids[0] }),
        )
        .await);
    assert_eq!(
        updated["updateUser"],
        json!({ "name": "Zoë", "active": false, "roles": [] })
    );

    let deleted = ok(app
        .gql(
            "mutation($id: ID!) { deleteUser(id: $id) { email } }",
            json!({ "id": ids[1] }),
        )
        .await);
    assert_eq!(deleted["deleteUser"]["email"], "amy@example.com");
    let gone = ok(app
        .gql(
            "query($id: ID!) { User(id: $id) { id } }",
            json!({ "id": ids[1] }),
        )
        .await);
    assert!(gone["User"].is_null());

    let role = ok(app
        .gql(
            "query($id: ID!) { Role(id: $id) { users { email } } allRoles(filter: { permission_id: \"2\" }) { name } }",
            json!({ "id": editor_id }),
        )
        .await);
    assert_eq!(
        role["Role"]["users"],
        json!([{ "email": "bob@example.com" }])
    );
    assert_eq!(
        role["allRoles"],
        json!([{ "name": "admin" }, { "name": "editor" }])
    );

    let renamed = ok(app
        .gql(
            "mutation($id: ID!) { updateRole(id: $id, name: \"editors\", permissionsIds: [\"1\"]) { name permissionsIds } }",
            json!({ "id": editor_id }),
        )
        .await);
    assert_eq!(
        renamed["updateRole"],
        json!({ "name": "editors", "permissionsIds": ["1"] })
    );
    let removed = ok(app
        .gql(
            "mutation($id: ID!) { deleteRole(id: $id) { name } }",
            json!({ "id": editor_id }),
        )
        .await);
    assert_eq!(removed["deleteRole"]["name"], "editors");

    let audit = ok(app.gql("{ allAuditLogs(sortField: \"id\", sortOrder: \"ASC\") { action actor { email } requestId clientIp changes } }", json!({})).await);
    let actions: Vec<&str> = audit["allAuditLogs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        [
            "auth.login",
            "role.create",
            "user.create",
            "user.create",
            "user.create",
            "user.update",
            "user.delete",
            "role.update",
            "role.delete"
        ]
    );
    for entry in audit["allAuditLogs"].as_array().unwrap() {
        assert_eq!(entry["actor"]["email"], ADMIN_EMAIL);
        assert!(
            entry["requestId"].as_str().is_some_and(|r| r.len() == 36),
            "{entry}"
        );
        assert_eq!(entry["clientIp"], "127.0.0.1");
        assert!(
            !entry["changes"].as_str().unwrap().contains("argon2"),
            "no secrets in the audit log"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn users_and_roles_crud_mysql() {
    users_crud(Backend::Mysql).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn users_and_roles_crud_sqlite() {
    users_crud(Backend::Sqlite).await;
}

async fn error_codes(backend: Backend) {
    let app = TestApp::on(backend).start().await;
    ok(create_user(&app, "dup@example.com", "Dup", json!([])).await);

    let dup = create_user(&app, "DUP@example.com", "Other", json!([])).await;
    assert_eq!((code(&dup), field(&dup)), ("CONFLICT", "email"), "{dup}");
    let dup_role = app
        .gql("mutation { createRole(name: \"admin\") { id } }", json!({}))
        .await;
    assert_eq!(
        (code(&dup_role), field(&dup_role)),
        ("CONFLICT", "name"),
        "{dup_role}"
    );

    let missing = app
        .gql(
            "mutation { updateUser(id: \"99999\", name: \"x\") { id } }",
            json!({}),
        )
        .await;
    assert_eq!(code(&missing), "NOT_FOUND", "{missing}");
    let missing = app
        .gql("mutation { deleteRole(id: \"99999\") { id } }", json!({}))
        .await;
    assert_eq!(code(&missing), "NOT_FOUND", "{missing}");

    for (body, expected_field) in [
        (create_user(&app, "not-an-email", "X", json!([])).await, "email"),
        (create_user(&app, "ok@example.com", "X", json!(["424242"])).await, "rolesIds"),
        (app.gql("{ allUsers(sortField: \"password_hash\") { id } }", json!({})).await, "sortField"),
        (app.gql("{ allUsers(perPage: 100000) { id } }", json!({})).await, "perPage"),
        (app.gql("{ allUsers(filter: { createdAt_gte: \"yesterday\" }) { id } }", json!({})).await, "filter.createdAt_gte"),
        (app.gql("mutation { createUser(email: \"p@example.com\", name: \"P\", password: \"short\") { id } }", json!({})).await, "password"),
        (app.gql("{ User(id: \"abc\") { id } }", json!({})).await, "id"),
    ] {
        assert_bad_input(&body, expected_field);
    }
    let password = app.gql("{ allUsers { password } }", json!({})).await;
    assert_eq!(
        code(&password),
        "BAD_USER_INPUT",
        "no password field: {password}"
    );
    assert!(!password.to_string().contains("SELECT"));
}

#[tokio::test(flavor = "multi_thread")]
async fn error_codes_mysql() {
    error_codes(Backend::Mysql).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn error_codes_sqlite() {
    error_codes(Backend::Sqlite).await;
}

async fn user_count(app: &TestApp) -> Value {
    ok(app.gql("{ _allUsersMeta { count } }", json!({})).await)["_allUsersMeta"]["count"].clone()
}

async fn guardrails_and_rollback(backend: Backend) {
    let app = TestApp::on(backend).start().await;
    let me = ok(app.gql("{ me { id } }", json!({})).await);
    let admin_id = me["me"]["id"].as_str().unwrap().to_owned();

    let deactivate_self = app
        .gql(
            "mutation($id: ID!) { updateUser(id: $id, active: false) { id } }",
            json!({ "id": admin_id }),
        )
        .await;
    assert_bad_input(&deactivate_self, "active");
    let delete_self = app
        .gql(
            "mutation($id: ID!) { deleteUser(id: $id) { id } }",
            json!({ "id": admin_id }),
        )
        .await;
    assert_bad_input(&delete_self, "id");

    // A user manager (not an admin) tries to strip the only admin of the role, renaming them
    // in the same mutation: the name was written before the guardrail fired, and must not stay.
    ok(app.gql("mutation { createRole(name: \"manager\", permissionsIds: [\"1\", \"2\", \"3\"]) { id } }", json!({})).await);
    let (_, manager) = app
        .user_with_roles("manager@example.com", &["manager"])
        .await;
    let audit_before = ok(app.gql("{ _allAuditLogsMeta { count } }", json!({})).await)["_allAuditLogsMeta"]["count"].clone();
    let strip = app
        .gql_with(
            "mutation($id: ID!) { updateUser(id: $id, name: \"Renamed\", rolesIds: []) { id } }",
            json!({ "id": admin_id }),
            Some(&manager),
        )
        .await;
    assert_bad_input(&strip, "rolesIds");
    let after = ok(app.gql("{ me { name roles { name } } }", json!({})).await);
    assert_eq!(
        after["me"],
        json!({ "name": "Administrator", "roles": [{ "name": "admin" }] }),
        "rolled back"
    );
    let audit_after = ok(app.gql("{ _allAuditLogsMeta { count } }", json!({})).await)["_allAuditLogsMeta"]["count"].clone();
    assert_eq!(
        audit_before, audit_after,
        "no audit row for a rolled-back change"
    );

    let admin_role = role_id(&app, "admin").await;
    let drop_role = app
        .gql(
            "mutation($id: ID!) { deleteRole(id: $id) { id } }",
            json!({ "id": admin_role }),
        )
        .await;
    assert_eq!(code(&drop_role), "BAD_USER_INPUT", "{drop_role}");
    let rename = |name: &'static str| {
        app.gql(
            "mutation($id: ID!, $name: String) { updateRole(id: $id, name: $name) { id } }",
            json!({ "id": admin_role, "name": name }),
        )
    };
    // Admins are counted by role name, so renaming the role would leave none.
    assert_bad_input(&rename("superuser").await, "name");
    // Names compare by the database's collation: on MySQL `Admin` is still the admin role
    // (SQLite refuses the rename), and a rename away from it must be refused too.
    let recased = rename("Admin").await;
    if recased.get("errors").is_some() {
        assert_bad_input(&recased, "name");
    } else {
        assert_bad_input(&rename("staff").await, "name");
        ok(rename("admin").await);
    }
    let deactivate_admin = app
        .gql_with(
            "mutation($id: ID!) { updateUser(id: $id, active: false) { id } }",
            json!({ "id": admin_id }),
            Some(&manager),
        )
        .await;
    assert_bad_input(&deactivate_admin, "active");

    // A failing later step of createUser leaves no user behind.
    let before = user_count(&app).await;
    let failed = create_user(
        &app,
        "ghost@example.com",
        "Ghost",
        json!([admin_role, "777777"]),
    )
    .await;
    assert_eq!(code(&failed), "BAD_USER_INPUT");
    assert_eq!(user_count(&app).await, before);

    // Once a second admin exists, the first may lose the role.
    let (second, _) = app
        .user_with_roles("second-admin@example.com", &["admin"])
        .await;
    assert!(!second.is_empty());
    ok(app
        .gql_with(
            "mutation($id: ID!) { updateUser(id: $id, rolesIds: []) { id } }",
            json!({ "id": admin_id }),
            Some(&manager),
        )
        .await);
}

#[tokio::test(flavor = "multi_thread")]
async fn guardrails_and_rollback_mysql() {
    guardrails_and_rollback(Backend::Mysql).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn guardrails_and_rollback_sqlite() {
    guardrails_and_rollback(Backend::Sqlite).await;
}

/// A page of users with their roles and permissions costs the same number of statements
/// whatever the page size (DataLoaders batch the nested fields).
#[tokio::test(flavor = "multi_thread")]
async fn nested_list_costs_constant_statements() {
    // A slow monitor: its probes run as the app's user too and would count.
    let app = TestApp::mysql()
        .env("REPLICA_CHECK_INTERVAL", "1h")
        .start()
        .await;
    let admin_role = role_id(&app, "admin").await.parse::<i64>().unwrap();
    let hash = adminql::auth::password::hash("password-1234".into())
        .await
        .unwrap();
    {
        let (mut conn, _) = app.state.db.write().await.unwrap();
        for i in 0..120 {
            let email = format!("bulk{i:03}@example.com");
            let user = insert_user(&mut conn, &email, "Bulk", &hash).await;
            if i % 2 == 0 {
                user_repo::set_roles(&mut conn, user.id, &[admin_role])
                    .await
                    .unwrap();
            }
        }
    }
    let cluster = cluster();
    let waiting = cluster.clone();
    tokio::task::spawn_blocking(move || {
        waiting.wait_for_replicas(std::time::Duration::from_secs(30))
    })
    .await
    .unwrap()
    .unwrap();
    let database = app.database.clone().unwrap();
    let query = "query($n: Int) { allUsers(perPage: $n, sortField: \"email\") { id roles { name } permissions { code } } }";
    // Warm-up runs open the pool's connections (whose set-up statements would count too).
    for _ in 0..3 {
        ok(app.gql(query, json!({ "n": 100 })).await);
    }
    let mut costs = Vec::new();
    for per_page in [5, 100, 5, 100] {
        let before = cluster.replica.statements(&database);
        let data = ok(app.gql(query, json!({ "n": per_page })).await);
        assert_eq!(
            data["allUsers"].as_array().unwrap().len(),
            per_page as usize
        );
        costs.push(cluster.replica.statements(&database) - before);
    }
    assert!(
        costs.iter().all(|c| *c == costs[0]),
        "statements for 5, 100, 5, 100 users: {costs:?}"
    );
    // The auth check, the page with its rows, roles, permissions: one statement each, and
    // the wait for the consistency token the test client's cookie carries.
    assert!(
        costs[0] <= 5,
        "a page of users with roles and permissions took {} statements",
        costs[0]
    );
}

/// Adds a user behind the pod's back (as another pod would) and waits until the pod's read
/// connections see it.
async fn insert_elsewhere(app: &TestApp, email: &str, expected_total: i64) {
    {
        let (mut conn, _) = app.state.db.write().await.unwrap();
        insert_user(&mut conn, email, "Elsewhere", "x").await;
    }
    for _ in 0..200 {
        let (mut conn, _) = app.state.db.read().await.unwrap();
        if user_repo::count_all(&mut conn).await.unwrap() == expected_total {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!("the replica never showed {email}");
}

async fn list_totals_are_reused_except_after_writes(backend: Backend) {
    let app = TestApp::on(backend)
        .env("GRAPHQL_COUNT_CACHE_TTL", "1h")
        .start()
        .await;
    let meta = json!({ "query": "{ _allUsersMeta { count } }" });
    let total = |body: Value| {
        assert!(body["errors"].is_null(), "{body}");
        body["data"]["_allUsersMeta"]["count"].as_i64().unwrap()
    };
    // Clients without cookies and without a token: they have not written.
    let first = total(app.post_fresh(Some(&app.admin_token), &[], &meta).await);

    insert_elsewhere(&app, "elsewhere-1@example.com", first + 1).await;
    assert_eq!(
        total(app.post_fresh(Some(&app.admin_token), &[], &meta).await),
        first,
        "within the TTL the pod answers from its cache"
    );
    let recent_writer = [("x-consistency-token", "0-1-1")];
    assert_eq!(
        total(
            app.post_fresh(Some(&app.admin_token), &recent_writer, &meta)
                .await
        ),
        first + 1,
        "a client carrying a consistency token always counts afresh"
    );

    // A mutation on this pod drops its totals.
    let created = app
        .post_fresh(
            Some(&app.admin_token),
            &[],
            &json!({ "query": "mutation { createUser(email: \"here@example.com\", name: \"Here\", password: \"password-1234\") { id } }" }),
        )
        .await;
    assert!(created["errors"].is_null(), "{created}");
    let (mut conn, _) = app.state.db.write().await.unwrap();
    let expected = user_repo::count_all(&mut conn).await.unwrap();
    drop(conn);
    assert_eq!(expected, first + 2);
    if backend == Backend::Mysql {
        let cluster = cluster();
        tokio::task::spawn_blocking(move || {
            cluster.wait_for_replicas(std::time::Duration::from_secs(30))
        })
        .await
        .unwrap()
        .unwrap();
    }
    assert_eq!(
        total(app.post_fresh(Some(&app.admin_token), &[], &meta).await),
        first + 2,
        "after a mutation on this pod the total is counted again"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn list_totals_are_reused_except_after_writes_mysql() {
    list_totals_are_reused_except_after_writes(Backend::Mysql).await;
}

#[tokio::test]
async fn list_totals_are_reused_except_after_writes_sqlite() {
    list_totals_are_reused_except_after_writes(Backend::Sqlite).await;
}

/// Every sort field lists every user exactly once, users who never signed in (a NULL
/// `lastLoginAt`) included, since the page query adds a condition over the sort column that
/// every row must meet; the order is checked for `email` and for NULLs of `lastLoginAt`.
async fn every_sort_lists_every_user(backend: Backend) {
    let app = TestApp::on(backend).start().await;
    for (email, name) in [
        ("c@example.com", "Cy"),
        ("a@example.com", "Al"),
        ("b@example.com", "Bo"),
    ] {
        create_user(&app, email, name, json!([])).await;
    }
    app.login("a@example.com", "password-1234").await;
    let query = "query($s: String, $o: String) { allUsers(sortField: $s, sortOrder: $o) { email lastLoginAt } _allUsersMeta { count } }";
    for field in [
        "id",
        "email",
        "name",
        "active",
        "createdAt",
        "updatedAt",
        "lastLoginAt",
    ] {
        for order in ["ASC", "DESC"] {
            let data = ok(app.gql(query, json!({ "s": field, "o": order })).await);
            let users = data["allUsers"].as_array().unwrap();
            let mut emails: Vec<&str> =
                users.iter().map(|u| u["email"].as_str().unwrap()).collect();
            assert_eq!(
                users.len() as i64,
                data["_allUsersMeta"]["count"].as_i64().unwrap(),
                "{field} {order}: {data}"
            );
            if field == "email" {
                let mut sorted = emails.clone();
                sorted.sort_unstable();
                if order == "DESC" {
                    sorted.reverse();
                }
                assert_eq!(emails, sorted, "{field} {order}");
            }
            if field == "lastLoginAt" {
                // NULLs sort first ascending, last descending, on both backends.
                let signed_in: Vec<bool> =
                    users.iter().map(|u| u["lastLoginAt"].is_string()).collect();
                let mut expected = signed_in.clone();
                expected.sort_unstable();
                if order == "DESC" {
                    expected.reverse();
                }
                assert_eq!(signed_in, expected, "{field} {order}: {data}");
            }
            emails.sort_unstable();
            emails.dedup();
            assert_eq!(
                emails.len(),
                users.len(),
                "{field} {order}: a user listed twice"
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_sort_lists_every_user_mysql() {
    every_sort_lists_every_user(Backend::Mysql).await;
}

#[tokio::test]
async fn every_sort_lists_every_user_sqlite() {
    every_sort_lists_every_user(Backend::Sqlite).await;
}

/// Audit entries page by page equal the whole list, in order, for every sort.
async fn audit_pages_follow_the_sort(backend: Backend) {
    let app = TestApp::on(backend).start().await;
    for (email, name) in [("p@example.com", "Pa"), ("q@example.com", "Qu")] {
        ok(create_user(&app, email, name, json!([])).await);
    }
    let query = "query($p: Int, $n: Int, $s: String, $o: String) { allAuditLogs(page: $p, perPage: $n, sortField: $s, sortOrder: $o) { id at action } _allAuditLogsMeta { count } }";
    for field in ["id", "at", "action"] {
        for order in ["ASC", "DESC"] {
            let all = ok(app
                .gql(query, json!({ "n": 100, "s": field, "o": order }))
                .await);
            let whole: Vec<Value> = all["allAuditLogs"].as_array().unwrap().clone();
            assert!(whole.len() >= 2, "{all}");
            assert_eq!(
                whole.len() as i64,
                all["_allAuditLogsMeta"]["count"].as_i64().unwrap()
            );
            let mut paged = Vec::new();
            for page in 0..whole.len() {
                let data = ok(app
                    .gql(query, json!({ "p": page, "n": 1, "s": field, "o": order }))
                    .await);
                paged.extend(data["allAuditLogs"].as_array().unwrap().iter().cloned());
            }
            assert_eq!(
                paged, whole,
                "{field} {order}: pages differ from the whole list"
            );
            let keys: Vec<String> = whole.iter().map(|e| e[field].to_string()).collect();
            let mut sorted = keys.clone();
            if field == "id" {
                sorted.sort_by_key(|k| k.trim_matches('"').parse::<i64>().unwrap());
            } else {
                sorted.sort();
            }
            if order == "DESC" {
                sorted.reverse();
            }
            assert_eq!(keys, sorted, "{field} {order}");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn audit_pages_follow_the_sort_mysql() {
    audit_pages_follow_the_sort(Backend::Mysql).await;
}

#[tokio::test]
async fn audit_pages_follow_the_sort_sqlite() {
    audit_pages_follow_the_sort(Backend::Sqlite).await;
}
