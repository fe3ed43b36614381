//! The `adminql` command line: `serve` (the default), `migrate`, `create-admin`, `print-schema`.
//!
//! Exit codes: 0 success, 2 bad usage or configuration (including a database that cannot be
//! reached at start, unless a replica can serve reads: see [`migrate_or_replica`]), 1 failure
//! at run time.

use std::io::BufRead;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use adminql::config::Config;
use adminql::db::{Database, migrate};
use adminql::user::bootstrap::{self, Bootstrap};
use adminql::{build_app, graphql, http, telemetry};

/// jemalloc, not glibc's malloc: tokio moves tasks between workers, so memory is often freed on
/// another thread than the one that allocated it, and glibc then takes the other thread's
/// arena lock. Under load that was most of adminql's futex calls and ~15 % of its CPU per
/// request (bench/README.md, "Per request, at 2026-12-06").
#[cfg(not(target_env = "msvc"))]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

/// GraphQL admin backend for users, roles and permissions.
///
/// With no configuration it serves the whole API on an embedded SQLite file (adminql.db).
/// Set DATABASE_URL (and DATABASE_REPLICA_URLS) to use MySQL/MariaDB; see .env.sample for
/// every environment variable.
#[derive(Parser)]
#[command(name = "adminql", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Apply migrations, create the bootstrap admin if there is no user, and serve HTTP (default).
    Serve,
    /// Apply pending database migrations to DATABASE_URL and exit.
    Migrate {
        /// When nothing answers at the primary's address but a replica already has every
        /// migration of this build, succeed anyway, so that a pod can start and serve reads
        /// while the primary is down (the Deployment's init container uses this). A primary
        /// that answers but cannot be migrated still fails.
        #[arg(long)]
        allow_primary_down: bool,
        /// Change nothing: compare the database's applied migrations with this build's and
        /// exit 0 only when they are the same (1 when some are pending, or were applied by a
        /// newer adminql). For deploy pipelines and the restore drill.
        #[arg(long, conflicts_with = "allow_primary_down")]
        check: bool,
    },
    /// Create a user holding the `admin` role.
    CreateAdmin {
        /// Email address of the new admin.
        #[arg(long)]
        email: String,
        /// Display name.
        #[arg(long, default_value = "Administrator")]
        name: String,
        /// Read the password from the first line of standard input (otherwise one is generated
        /// and printed).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Print the GraphQL schema (SDL) to standard output.
    PrintSchema,
}

/// A failure and the exit code it deserves.
struct Failure {
    code: u8,
    message: String,
}

fn usage(message: impl std::fmt::Display) -> Failure {
    Failure {
        code: 2,
        message: message.to_string(),
    }
}

fn runtime(message: impl std::fmt::Display) -> Failure {
    Failure {
        code: 1,
        message: message.to_string(),
    }
}

fn main() -> ExitCode {
    tune_malloc();
    let cli = Cli::parse();
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::PrintSchema => {
            print!("{}", graphql::sdl());
            Ok(())
        }
        command => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(runtime)
            .and_then(|rt| rt.block_on(run(command))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("adminql: {}", failure.message);
            ExitCode::from(failure.code)
        }
    }
}

/// Tunes glibc's malloc for a small, steady footprint; `MALLOC_MMAP_THRESHOLD_` and
/// `MALLOC_ARENA_MAX` in the environment still win.
/// - Every block of 1 MiB or more gets its own mapping, returned to the system when freed. By
///   default glibc raises that threshold to the largest block freed so far, so after the first
///   sign-in argon2's 19 MiB work buffers came from arenas that never shrink: 60 MB of RSS
///   outside sign-in, 427 MB during a burst of them (bench/README.md).
/// - At most two arenas: each thread that allocates otherwise gets its own (up to 8 per CPU),
///   and their fragments added 10 MB under load; the benchmark saw no throughput change.
fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let unset = |name: &str| std::env::var_os(name).is_none();
        // SAFETY: mallopt only tunes glibc's allocator; it runs before any other thread exists.
        unsafe {
            if unset("MALLOC_MMAP_THRESHOLD_") {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
            }
            if unset("MALLOC_ARENA_MAX") {
                libc::mallopt(libc::M_ARENA_MAX, 2);
            }
        }
    }
}

async fn run(command: Command) -> Result<(), Failure> {
    let config = Config::from_env().map_err(usage)?;
    telemetry::init(&config.log);
    match command {
        Command::Migrate { check: true, .. } => check_schema(&config).await,
        Command::Migrate {
            allow_primary_down, ..
        } => {
            let schema = if allow_primary_down {
                migrate_or_replica(&config).await?
            } else {
                Schema::Migrated(migrate_primary(&config).await?)
            };
            if let Schema::Migrated(applied) = schema {
                println!("applied {} migration(s)", applied.len());
            }
            Ok(())
        }
        Command::CreateAdmin {
            email,
            name,
            password_stdin,
        } => create_admin(&config, &email, &name, password_stdin).await,
        Command::Serve => serve(config).await,
        Command::PrintSchema => unreachable!("handled without a runtime"),
    }
}

async fn migrate_primary(config: &Config) -> Result<Vec<String>, Failure> {
    let applied = migrate::run(&config.database).await.map_err(|e| {
        usage(format!(
            "DATABASE_URL: cannot migrate {}: {e:#}",
            config.database.primary.redacted()
        ))
    })?;
    for version in &applied {
        tracing::info!(%version, "applied migration");
    }
    Ok(applied)
}

/// `migrate --check`: reports how the database compares with this build, changing nothing.
async fn check_schema(config: &Config) -> Result<(), Failure> {
    let state = migrate::check(&config.database)
        .await
        .map_err(|e| usage(format!("cannot read the applied migrations: {e:#}")))?;
    if state.current() {
        println!("schema is current: {} migration(s) applied", state.applied);
        return Ok(());
    }
    let mut problems = Vec::new();
    if !state.pending.is_empty() {
        problems.push(format!(
            "pending (run `adminql migrate`): {}",
            state.pending.join(", ")
        ));
    }
    if !state.unknown.is_empty() {
        problems.push(format!(
            "applied by a newer adminql, unknown to this build: {}",
            state.unknown.join(", ")
        ));
    }
    Err(runtime(format!(
        "schema is not this build's: {}",
        problems.join("; ")
    )))
}

/// What a start found: the primary migrated, or a replica with every migration while the
/// primary could not be reached.
enum Schema {
    Migrated(Vec<String>),
    PrimaryDown,
}

/// Migrates the primary. If nothing listens at the primary's address and a replica already
/// has every migration of this build, carries on read-only: reads work from the replicas,
/// writes answer `READ_ONLY_MODE` until the replica monitor reaches the primary. A primary
/// that answers but cannot be migrated is a failure, as without replicas.
async fn migrate_or_replica(config: &Config) -> Result<Schema, Failure> {
    let failure = match migrate_primary(config).await {
        Ok(applied) => return Ok(Schema::Migrated(applied)),
        Err(failure) => failure,
    };
    if config.database.replicas.is_empty() || migrate::primary_listens(&config.database).await {
        return Err(failure);
    }
    match migrate::replica_with_every_migration(&config.database).await {
        Ok(replica) => {
            tracing::error!(
                error = %failure.message,
                %replica,
                "starting read-only: nothing answers at the primary's address, but this replica has every migration; writes answer READ_ONLY_MODE until the primary answers"
            );
            Ok(Schema::PrimaryDown)
        }
        Err(e) => Err(usage(format!(
            "{}; reads cannot start either: {e:#}",
            failure.message
        ))),
    }
}

async fn create_admin(
    config: &Config,
    email: &str,
    name: &str,
    password_stdin: bool,
) -> Result<(), Failure> {
    migrate_primary(config).await?;
    let email = &email.trim().to_lowercase();
    let (password, generated) = if password_stdin {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| usage(format!("--password-stdin: cannot read standard input: {e}")))?;
        (line.trim_end_matches(['\r', '\n']).to_owned(), false)
    } else {
        (adminql::auth::password::generate(), true)
    };
    let db = Database::new(&config.database).map_err(runtime)?;
    bootstrap::create_admin(&db, email, name, &password, config.auth.password_min_length)
        .await
        .map_err(|e| usage(format!("create-admin: {}", e.detail())))?;
    if generated {
        println!("created admin {email} with password: {password}");
    } else {
        println!("created admin {email}");
    }
    Ok(())
}

async fn serve(config: Config) -> Result<(), Failure> {
    let schema = migrate_or_replica(&config).await?;
    let listen = config.http.listen_addr;
    let grace = config.http.shutdown_grace_period;
    let app = build_app(config).await.map_err(usage)?;
    let state = app.state.clone();

    let bootstrap = match schema {
        Schema::Migrated(_) => bootstrap::ensure_admin(&state.db, &state.config).await,
        // It needs the primary; any user who can sign in needs it too.
        Schema::PrimaryDown => {
            state
                .db
                .start_read_only("nothing answered at the primary's address at start");
            Ok(Bootstrap::Existing)
        }
    };
    match bootstrap {
        Ok(Bootstrap::Existing) => {}
        Ok(Bootstrap::Created { email }) => {
            tracing::info!(%email, "created the bootstrap admin from ADMIN_EMAIL/ADMIN_PASSWORD");
        }
        Ok(Bootstrap::Generated { email, password }) => {
            tracing::warn!(
                %email,
                %password,
                "created the bootstrap admin with a generated password; it is shown only this once: sign in and change it"
            );
        }
        Err(e) => return Err(usage(format!("bootstrap admin: {}", e.detail()))),
    }

    adminql::retention::spawn(state.db.clone(), state.config.retention.clone());
    let shutdown = http::shutdown_signal();
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| usage(format!("LISTEN_ADDR: cannot listen on {listen}: {e}")))?;
    // The bound address, so `LISTEN_ADDR=...:0` shows the port the kernel picked.
    let shown = display_addr(listener.local_addr().unwrap_or(listen));
    tracing::info!(
        database = %state.config.database.primary.redacted(),
        replicas = state.config.database.replicas.len(),
        "adminql listening on http://{shown}"
    );
    tracing::info!("admin UI: http://{shown}/admin (sign in with any account)");
    tracing::info!("GraphiQL: http://{shown}/graphiql (sign in with the bar at the top)");
    if state.config.public_introspection() {
        tracing::info!("anonymous schema introspection is on (GRAPHQL_PUBLIC_INTROSPECTION)");
    }

    let result = http::serve(listener, app.router, shutdown, grace).await;
    state.db.close();
    result.map_err(|e| runtime(format!("server error: {e}")))?;
    tracing::info!("stopped");
    Ok(())
}

/// `0.0.0.0:8080` is where we listen, but `localhost:8080` is what a person can open.
fn display_addr(addr: std::net::SocketAddr) -> String {
    if addr.ip().is_unspecified() {
        format!("localhost:{}", addr.port())
    } else {
        addr.to_string()
    }
}
