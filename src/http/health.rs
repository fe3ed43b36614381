//! Kubernetes probes. `/health` is liveness: it never touches a database, so a database
//! outage cannot get healthy pods killed. `/ready` is readiness: 200 while reads can be
//! served, with per-pool detail and whether writes work.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::AppState;
use crate::db::ping;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn health() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let db = &state.db;
    let reads = probe(async {
        let (mut conn, target) = db.read().await.map_err(|e| e.to_string())?;
        ping(&mut conn).await.map_err(|e| e.to_string())?;
        Ok(target.label().to_owned())
    })
    .await;
    let writes = probe(async {
        db.check_primary().await.map_err(|e| e.to_string())?;
        Ok("primary".to_owned())
    })
    .await;
    let status = if reads.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "status": if reads.is_ok() { "ready" } else { "unavailable" },
        "reads": outcome(&reads),
        "writes": outcome(&writes),
        "pools": db.pool_states(),
    });
    (status, Json(body))
}

async fn probe(check: impl Future<Output = Result<String, String>>) -> Result<String, String> {
    match tokio::time::timeout(CHECK_TIMEOUT, check).await {
        Ok(result) => result,
        Err(_) => Err("timed out".into()),
    }
}

fn outcome(result: &Result<String, String>) -> Value {
    match result {
        Ok(target) => json!({ "ok": true, "target": target }),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            json!({ "ok": false, "error": "unavailable" })
        }
    }
}
