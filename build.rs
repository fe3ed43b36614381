//! Puts the GraphiQL browser assets into `$OUT_DIR/graphiql` so the binary can serve them.
//!
//! They come from the npm registry at build time (`scripts/fetch-graphiql-assets`), never from
//! the repository. Set `ADMINQL_GRAPHIQL_DIR` to a directory holding them already (the
//! Dockerfile does) to build without npm.

use std::path::{Path, PathBuf};
use std::process::Command;

const FILES: &[&str] = &[
    "graphiql.min.js",
    "graphiql.min.css",
    "react.production.min.js",
    "react-dom.production.min.js",
];

fn main() {
    println!("cargo:rerun-if-changed=scripts/fetch-graphiql-assets");
    println!("cargo:rerun-if-env-changed=ADMINQL_GRAPHIQL_DIR");
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR")).join("graphiql");

    if let Ok(dir) = std::env::var("ADMINQL_GRAPHIQL_DIR") {
        std::fs::create_dir_all(&out).expect("create OUT_DIR/graphiql");
        for file in FILES {
            let from = Path::new(&dir).join(file);
            std::fs::copy(&from, out.join(file)).unwrap_or_else(|e| {
                panic!("ADMINQL_GRAPHIQL_DIR: cannot copy {}: {e}", from.display())
            });
        }
        return;
    }
    if FILES.iter().all(|f| out.join(f).is_file()) {
        return;
    }
    let status = Command::new("bash")
        .arg("scripts/fetch-graphiql-assets")
        .arg(&out)
        .status()
        .unwrap_or_else(|e| {
            panic!("cannot run scripts/fetch-graphiql-assets (needs bash and npm): {e}")
        });
    assert!(
        status.success(),
        "scripts/fetch-graphiql-assets failed: npm must reach the registry, or set ADMINQL_GRAPHIQL_DIR"
    );
}
