//! Authentication and authorization over real HTTP with real tokens on real MariaDB.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::support::code;
use crate::support::{ADMIN_EMAIL, ADMIN_PASSWORD, JWT_SECRET, TestApp};

const ME: &str = "{ me { id email } }";

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn claims(sub: &str) -> Value {
    json!({
        "sub": sub, "exp": now() + 600, "iat": now(), "nbf": now() - 5,
        "iss": "adminql", "aud": "adminql", "jti": "test", "token_version": 0
    })
}

fn sign(claims: &Value, alg: Algorithm, secret: &[u8]) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(secret)).unwrap()
}

async fn me_status(app: &TestApp, token: &str) -> (u16, Value) {
    let resp = app
        .client
        .post(app.url("/graphql"))
        .bearer_auth(token)
        .json(&json!({ "query": ME }))
        .send()
        .await
        .unwrap();
    (resp.status().as_u16(), resp.json().await.unwrap())
}

async fn assert_refused(app: &TestApp, token: &str, what: &str) {
    let (status, body) = me_status(app, token).await;
    assert_eq!(code(&body), "UNAUTHENTICATED", "{what}: {body}");
    assert_eq!(status, 401, "{what}");
    assert!(
        body["errors"][0]["extensions"]["requestId"]
            .as_str()
            .is_some_and(|id| !id.is_empty()),
        "{what}: {body}"
    );
    assert!(
        body["data"].is_null() || body["data"]["me"].is_null(),
        "{what}: {body}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_and_stale_tokens_are_refused() {
    let app = TestApp::mysql().start().await;
    let admin_id = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let secret = JWT_SECRET.as_bytes();

    // The baseline: a well-formed token with the same secret and claims is accepted.
    let good = sign(&claims(&admin_id), Algorithm::HS256, secret);
    let (status, body) = me_status(&app, &good).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["me"]["email"], ADMIN_EMAIL);

    let no_token = app.gql_anon(ME, json!({})).await;
    assert_eq!(code(&no_token), "UNAUTHENTICATED", "{no_token}");

    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(claims(&admin_id).to_string());
    assert_refused(&app, &format!("{header}.{payload}."), "alg none").await;

    assert_refused(
        &app,
        &sign(
            &claims(&admin_id),
            Algorithm::HS256,
            b"another-secret-of-32-bytes-length!!",
        ),
        "wrong key",
    )
    .await;

    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let mut tampered = claims(&admin_id);
    tampered["sub"] = json!("999");
    parts[1] = URL_SAFE_NO_PAD.encode(tampered.to_string());
    assert_refused(&app, &parts.join("."), "tampered payload").await;

    assert_refused(
        &app,
        &sign(&claims(&admin_id), Algorithm::HS512, secret),
        "HS512",
    )
    .await;

    let mut c = claims(&admin_id);
    c["exp"] = json!(now() - 120);
    assert_refused(
        &app,
        &sign(&c, Algorithm::HS256, secret),
        "expired beyond leeway",
    )
    .await;

    let mut c = claims(&admin_id);
    c["exp"] = json!((now() + 600).to_string());
    assert_refused(&app, &sign(&c, Algorithm::HS256, secret), "exp as a string").await;

    let mut c = claims(&admin_id);
    c.as_object_mut().unwrap().remove("exp");
    assert_refused(&app, &sign(&c, Algorithm::HS256, secret), "exp missing").await;

    let mut c = claims(&admin_id);
    c["nbf"] = json!(now() + 600);
    assert_refused(
        &app,
        &sign(&c, Algorithm::HS256, secret),
        "nbf in the future",
    )
    .await;

    let mut c = claims(&admin_id);
    c["aud"] = json!("another-service");
    assert_refused(&app, &sign(&c, Algorithm::HS256, secret), "wrong aud").await;

    let mut c = claims(&admin_id);
    c["iss"] = json!("someone-else");
    assert_refused(&app, &sign(&c, Algorithm::HS256, secret), "wrong iss").await;

    let (status, _) = me_status(&app, "not-a-jwt").await;
    assert_eq!(status, 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn deactivation_and_password_change_revoke_tokens_at_once() {
    let app = TestApp::mysql().start().await;
    let (id, token) = app.user_with_roles("dora@example.com", &["admin"]).await;
    let (status, _) = me_status(&app, &token).await;
    assert_eq!(status, 200);

    let body = app
        .gql(
            "mutation($id: ID!) { updateUser(id: $id, active: false) { active } }",
            json!({ "id": id }),
        )
        .await;
    assert_eq!(body["data"]["updateUser"]["active"], false, "{body}");
    assert_refused(&app, &token, "token of a deactivated user").await;

    let (_, token) = app.user_with_roles("pat@example.com", &[]).await;
    let body = app
        .gql_with(
            "mutation { changePassword(currentPassword: \"password-1234\", newPassword: \"a-new-password-99\") { token } }",
            json!({}),
            Some(&token),
        )
        .await;
    let fresh = body["data"]["changePassword"]["token"]
        .as_str()
        .expect("new session")
        .to_owned();
    assert_refused(&app, &token, "token issued before a password change").await;
    assert_eq!(me_status(&app, &fresh).await.0, 200);
    let wrong = app
        .gql_with(
            "mutation { changePassword(currentPassword: \"nope-nope-nope\", newPassword: \"another-password-1\") { token } }",
            json!({}),
            Some(&fresh),
        )
        .await;
    assert_eq!(code(&wrong), "BAD_USER_INPUT");
    assert_eq!(wrong["errors"][0]["extensions"]["field"], "currentPassword");
}

#[tokio::test(flavor = "multi_thread")]
async fn refresh_tokens_rotate_and_reuse_revokes_the_chain() {
    let app = TestApp::mysql().start().await;
    let first = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let refresh = |token: String| {
        let app = &app;
        async move {
            app.gql_anon(
                "mutation($t: String!) { refreshToken(token: $t) { token refreshToken } }",
                json!({ "t": token }),
            )
            .await
        }
    };
    let r1 = first["refreshToken"].as_str().unwrap().to_owned();
    let second = refresh(r1.clone()).await;
    let r2 = second["data"]["refreshToken"]["refreshToken"]
        .as_str()
        .expect("rotated")
        .to_owned();
    assert_ne!(r1, r2);

    let reuse = refresh(r1).await;
    assert_eq!(code(&reuse), "UNAUTHENTICATED", "{reuse}");
    // The reuse revoked the whole chain, including the token issued after the spent one.
    let after = refresh(r2).await;
    assert_eq!(code(&after), "UNAUTHENTICATED", "{after}");

    // logout revokes the current chain.
    let session = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let r = session["refreshToken"].as_str().unwrap();
    let out = app
        .gql_with(
            "mutation($t: String!) { logout(refreshToken: $t) }",
            json!({ "t": r }),
            session["token"].as_str(),
        )
        .await;
    assert_eq!(out["data"]["logout"], true, "{out}");
    assert_eq!(code(&refresh(r.to_owned()).await), "UNAUTHENTICATED");
    let again = app
        .gql_with(
            "mutation($t: String!) { logout(refreshToken: $t) }",
            json!({ "t": r }),
            None,
        )
        .await;
    assert_eq!(again["data"]["logout"], false, "an ended chain: {again}");

    // The refresh token alone is credential enough (a tab whose access token expired can
    // still sign out); a signed-in caller cannot end someone else's session.
    let logout = "mutation($t: String!) { logout(refreshToken: $t) }";
    let mine = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await;
    let mine = mine["refreshToken"].as_str().unwrap().to_owned();
    let (_, theirs) = app
        .user_with_roles("logout-other@example.com", &["admin"])
        .await;
    let out = app
        .gql_with(logout, json!({ "t": mine }), Some(&theirs))
        .await;
    assert_eq!(out["data"]["logout"], false, "{out}");
    let out = app.gql_with(logout, json!({ "t": mine }), None).await;
    assert_eq!(out["data"]["logout"], true, "{out}");
    assert_eq!(code(&refresh(mine).await), "UNAUTHENTICATED");

    let audit = app
        .gql(
            "{ allAuditLogs(filter: { action: \"auth.refresh_reuse\" }) { action } }",
            json!({}),
        )
        .await;
    assert_eq!(
        audit["data"]["allAuditLogs"].as_array().map(Vec::len),
        Some(1),
        "{audit}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn permissions_guard_fields_and_denials_are_audited() {
    let app = TestApp::mysql().start().await;
    let (id, token) = app.user_with_roles("reader@example.com", &[]).await;
    let denied = app
        .gql_with("{ allUsers { id } }", json!({}), Some(&token))
        .await;
    assert_eq!(code(&denied), "FORBIDDEN", "{denied}");
    let me = app.gql_with(ME, json!({}), Some(&token)).await;
    assert_eq!(me["data"]["me"]["id"], json!(id), "{me}");

    // The denial's audit row was written on the primary by a query, which hands out no
    // consistency token: read it once the replicas have it.
    app.replicas_caught_up().await;
    let audit = app
        .gql(
            "query($a: ID) { allAuditLogs(filter: { action: \"auth.denied\", actor_user_id: $a }) { changes } }",
            json!({ "a": id }),
        )
        .await;
    let entries = audit["data"]["allAuditLogs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(entries.len(), 1, "{audit}");
    assert!(
        entries[0]["changes"]
            .as_str()
            .unwrap()
            .contains("user:read")
    );
    // The output fields' own names filter like the reference-list names; both may be given
    // if they agree.
    let count = |filter: &'static str| {
        let (app, id) = (&app, id.clone());
        async move {
            let body = app
                .gql(
                    &format!("query($a: ID) {{ _allAuditLogsMeta(filter: {filter}) {{ count }} }}"),
                    json!({ "a": id }),
                )
                .await;
            body["data"]["_allAuditLogsMeta"]["count"]
                .as_i64()
                .unwrap_or_else(|| panic!("{filter}: {body}"))
        }
    };
    assert_eq!(
        count(r#"{ action: "auth.denied", actorUserId: $a }"#).await,
        1
    );
    assert_eq!(
        count(r#"{ action: "auth.denied", actorUserId: $a, actor_user_id: $a }"#).await,
        1
    );
    let about_user = count(r#"{ targetType: "user", targetId: $a }"#).await;
    assert!(about_user >= 1, "the user's creation is about the user");
    assert_eq!(
        count(r#"{ target_type: "user", target_id: $a }"#).await,
        about_user
    );
    assert_eq!(count(r#"{ targetType: "role", targetId: $a }"#).await, 0);
    let clash = app
        .gql(
            "query($a: ID) { allAuditLogs(filter: { actorUserId: $a, actor_user_id: \"1\" }) { id } }",
            json!({ "a": id }),
        )
        .await;
    assert_eq!(code(&clash), "BAD_USER_INPUT", "{clash}");
    assert_eq!(
        clash["errors"][0]["extensions"]["field"], "filter.actorUserId",
        "{clash}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_in_failures_look_alike_and_are_audited() {
    let app = TestApp::mysql().start().await;
    let unknown = app
        .gql_anon("mutation { login(email: \"nobody@example.com\", password: \"whatever-123\") { token } }", json!({}))
        .await;
    let wrong = app
        .gql_anon(&format!("mutation {{ login(email: \"{ADMIN_EMAIL}\", password: \"wrong-password\") {{ token }} }}"), json!({}))
        .await;
    assert_eq!(code(&unknown), "UNAUTHENTICATED");
    assert_eq!(
        unknown["errors"][0]["message"],
        wrong["errors"][0]["message"]
    );

    let (id, _) = app.user_with_roles("off@example.com", &[]).await;
    app.gql(
        "mutation($id: ID!) { updateUser(id: $id, active: false) { id } }",
        json!({ "id": id }),
    )
    .await;
    let disabled = app
        .gql_anon(
            "mutation { login(email: \"off@example.com\", password: \"password-1234\") { token } }",
            json!({}),
        )
        .await;
    assert_eq!(
        code(&disabled),
        "UNAUTHENTICATED",
        "disabled users cannot sign in"
    );

    // A refused sign-in writes its audit row on its own, with no consistency token (the last
    // one came after the updateUser above): read the rows once the replicas have them.
    app.replicas_caught_up().await;
    let audit = app
        .gql(
            "{ _allAuditLogsMeta(filter: { action: \"auth.login_failed\" }) { count } }",
            json!({}),
        )
        .await;
    assert_eq!(audit["data"]["_allAuditLogsMeta"]["count"], 3, "{audit}");
    let me = app.gql("{ me { lastLoginAt } }", json!({})).await;
    assert!(me["data"]["me"]["lastLoginAt"].is_string(), "{me}");
}

#[tokio::test(flavor = "multi_thread")]
async fn guessing_passwords_is_rate_limited() {
    let app = TestApp::mysql()
        .env("LOGIN_RATE_LIMIT_PER_IP", "10")
        .env("LOGIN_RATE_LIMIT_PER_ACCOUNT", "5")
        .start()
        .await;
    let mut limited_at = None;
    for attempt in 1..=30 {
        let body = app
            .gql_anon(&format!("mutation {{ login(email: \"{ADMIN_EMAIL}\", password: \"guess-{attempt}\") {{ token }} }}"), json!({}))
            .await;
        if code(&body) == "RATE_LIMITED" {
            assert!(
                body["errors"][0]["extensions"]["retryAfter"]
                    .as_u64()
                    .unwrap()
                    >= 1
            );
            assert_eq!(body["errors"][0]["extensions"]["http"]["status"], 429);
            limited_at = Some(attempt);
            break;
        }
        assert_eq!(code(&body), "UNAUTHENTICATED");
    }
    // The admin signed in once at start-up, so the account limit of 5 is hit on the 5th guess.
    assert_eq!(limited_at, Some(5));
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_minted_by_pyjwt_are_accepted() {
    let app = TestApp::sqlite().start().await;
    let id = app.login(ADMIN_EMAIL, ADMIN_PASSWORD).await["user"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let script = format!(
        "import jwt, time; n = int(time.time()); print(jwt.encode({{'sub': '{id}', 'exp': n + 600, 'iat': n, 'nbf': n, \
         'iss': 'adminql', 'aud': 'adminql', 'jti': 'py', 'token_version': 0}}, '{JWT_SECRET}', algorithm='HS256'))"
    );
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(&script)
        .output()
        .expect("python3");
    assert!(
        out.status.success(),
        "PyJWT is needed (scripts/test installs it): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let (status, body) = me_status(&app, &token).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["me"]["id"], json!(id));
}

#[tokio::test(flavor = "multi_thread")]
async fn asymmetric_keys_sign_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let (private, public) = (dir.path().join("jwt.pem"), dir.path().join("jwt.pub.pem"));
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "genpkey",
        "-algorithm",
        "ed25519",
        "-out",
        private.to_str().unwrap(),
    ]);
    run(&[
        "pkey",
        "-in",
        private.to_str().unwrap(),
        "-pubout",
        "-out",
        public.to_str().unwrap(),
    ]);
    let app = TestApp::sqlite()
        .env("JWT_PRIVATE_KEY_FILE", private.to_str().unwrap())
        .env("JWT_PUBLIC_KEY_FILE", public.to_str().unwrap())
        .env("JWT_ALGORITHM", "EdDSA")
        .start()
        .await;
    let header: Value = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(app.admin_token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "EdDSA");
    let (status, body) = me_status(&app, &app.admin_token).await;
    assert_eq!(status, 200, "{body}");
    // An HS256 token made with the test secret is refused: the algorithm is pinned.
    assert_refused(
        &app,
        &sign(&claims("1"), Algorithm::HS256, JWT_SECRET.as_bytes()),
        "HS256 under EdDSA",
    )
    .await;
}
