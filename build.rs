//! Puts the browser assets into `$OUT_DIR` so the binary can serve them: GraphiQL's in
//! `$OUT_DIR/graphiql`, and the admin UI's (built from `web/`) listed in
//! `$OUT_DIR/admin_assets.rs`.
//!
//! Both come from the npm registry at build time (`scripts/fetch-graphiql-assets`,
//! `scripts/build-admin-ui`), never from the repository. Set `ADMINQL_GRAPHIQL_DIR` and
//! `ADMINQL_ADMIN_UI_DIR` to directories holding them already (the Dockerfile does) to build
//! without npm. The admin UI build is cached under `target/admin-ui/<hash of its sources>`,
//! so an unchanged `web/` is built once, whatever the profile.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

const FILES: &[&str] = &[
    "graphiql.min.js",
    "graphiql.min.css",
    "react.production.min.js",
    "react-dom.production.min.js",
];

/// Everything the admin UI build reads besides `web/node_modules`.
const UI_SOURCES: &[&str] = &[
    "web/package.json",
    "web/package-lock.json",
    "web/index.html",
    "web/vite.config.js",
    "web/build.mjs",
    "web/src",
    "schema.graphql",
    "scripts/build-admin-ui",
];

fn main() {
    let out_dir = PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    graphiql(&out_dir);
    admin_ui(&out_dir);
}

fn graphiql(out_dir: &Path) {
    println!("cargo:rerun-if-changed=scripts/fetch-graphiql-assets");
    println!("cargo:rerun-if-env-changed=ADMINQL_GRAPHIQL_DIR");
    let out = out_dir.join("graphiql");

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

fn admin_ui(out_dir: &Path) {
    println!("cargo:rerun-if-env-changed=ADMINQL_ADMIN_UI_DIR");
    for source in UI_SOURCES {
        println!("cargo:rerun-if-changed={source}");
    }
    let dir = match std::env::var("ADMINQL_ADMIN_UI_DIR") {
        Ok(dir) => PathBuf::from(dir),
        Err(_) => cached_ui_build(out_dir),
    };
    assert!(
        dir.join("index.html").is_file(),
        "{}: no index.html (set ADMINQL_ADMIN_UI_DIR to the output of scripts/build-admin-ui)",
        dir.display()
    );
    let mut files = Vec::new();
    list(&dir, &mut files);
    files.sort();
    let mut code = String::from("&[\n");
    for file in &files {
        let rel = file
            .strip_prefix(&dir)
            .expect("under dir")
            .to_str()
            .expect("UTF-8 name");
        let (gz, br) = (with_ext(file, "gz"), with_ext(file, "br"));
        assert!(
            gz.is_file() && br.is_file(),
            "{}: missing its .gz or .br copy",
            file.display()
        );
        writeln!(
            code,
            "    Asset {{ path: {rel:?}, raw: include_bytes!({:?}), gzip: include_bytes!({:?}), brotli: include_bytes!({:?}) }},",
            file.to_str().expect("UTF-8 path"),
            gz.to_str().expect("UTF-8 path"),
            br.to_str().expect("UTF-8 path"),
        )
        .expect("write to a String");
    }
    code.push_str("]\n");
    std::fs::write(out_dir.join("admin_assets.rs"), code).expect("write OUT_DIR/admin_assets.rs");
}

/// `target/admin-ui/<hash>`, built by `scripts/build-admin-ui` unless it exists already.
fn cached_ui_build(out_dir: &Path) -> PathBuf {
    // OUT_DIR is <target>/<profile>/build/<pkg>/out (one more level with --target).
    let target = out_dir
        .ancestors()
        .nth(4)
        .expect("OUT_DIR is inside the target directory");
    let cache = target.join("admin-ui");
    let dir = cache.join(format!("{:016x}", sources_hash()));
    if dir.join("index.html").is_file() {
        return dir;
    }
    let tmp = cache.join(format!("tmp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    let status = Command::new("bash")
        .arg("scripts/build-admin-ui")
        .arg(&tmp)
        .status()
        .unwrap_or_else(|e| panic!("cannot run scripts/build-admin-ui (needs bash and npm): {e}"));
    assert!(
        status.success(),
        "scripts/build-admin-ui failed: npm must reach the registry, or set ADMINQL_ADMIN_UI_DIR"
    );
    // Another build may have finished the same hash meanwhile: either copy is good.
    if std::fs::rename(&tmp, &dir).is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    // Older builds are never used again; builds still under way (tmp-*) are left alone.
    for entry in std::fs::read_dir(&cache).into_iter().flatten().flatten() {
        let name = entry.file_name();
        if entry.path() != dir && !name.to_string_lossy().starts_with("tmp-") {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    dir
}

/// FNV-1a over the UI's source files (names and contents), stable across Rust versions.
fn sources_hash() -> u64 {
    let mut files = Vec::new();
    for source in UI_SOURCES {
        let path = PathBuf::from(source);
        if path.is_dir() {
            list(&path, &mut files)
        } else {
            files.push(path)
        }
    }
    files.sort();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for file in files {
        let body = std::fs::read(&file).unwrap_or_else(|e| panic!("read {}: {e}", file.display()));
        for byte in file
            .to_string_lossy()
            .as_bytes()
            .iter()
            .chain([0u8].iter())
            .chain(&body)
        {
            hash = (hash ^ u64::from(*byte)).wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// Files under `dir`, recursively, leaving out the compressed copies.
fn list(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            list(&path, files);
        } else if !matches!(path.extension().and_then(|e| e.to_str()), Some("gz" | "br")) {
            files.push(path);
        }
    }
}

fn with_ext(file: &Path, ext: &str) -> PathBuf {
    let mut name = file.as_os_str().to_owned();
    name.push(".");
    name.push(ext);
    PathBuf::from(name)
}
