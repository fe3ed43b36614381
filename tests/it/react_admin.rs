//! react-admin's real GraphQL data provider (`ra-data-graphql-simple`, run by Node from
//! `tests/react-admin`) against the real server: getList, getOne, getMany, getManyReference,
//! create, update and delete on `User` and `Role`.

use std::path::Path;

use crate::support::{Backend, TestApp};

async fn run_data_provider(backend: Backend) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/react-admin");
    assert!(
        dir.join("node_modules/ra-data-graphql-simple").is_dir(),
        "tests/react-admin/node_modules is missing: run scripts/test (it runs npm install there)"
    );
    let app = TestApp::on(backend).start().await;
    let out = tokio::process::Command::new("node")
        .arg("data-provider.mjs")
        .current_dir(&dir)
        .env("ADMINQL_URL", &app.base)
        .env("ADMINQL_TOKEN", &app.admin_token)
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "data provider checks failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("all checks passed"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread")]
async fn react_admin_data_provider_sqlite() {
    run_data_provider(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn react_admin_data_provider_mysql() {
    run_data_provider(Backend::Mysql).await;
}
