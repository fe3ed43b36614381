//! How the log is written (see `telemetry`).
//!
//! Reads `LOG_FORMAT` and `RUST_LOG`.

use super::ConfigError;
use super::env::Env;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Clone, Debug)]
pub struct LogConfig {
    pub format: LogFormat,
    /// `RUST_LOG`: which events are written, as `tracing_subscriber::EnvFilter` directives;
    /// unset (or not directives): `info`.
    pub filter: Option<String>,
}

pub(super) fn load(env: &Env) -> Result<LogConfig, ConfigError> {
    let format = match env.get("LOG_FORMAT").as_deref() {
        None | Some("pretty") => LogFormat::Pretty,
        Some("json") => LogFormat::Json,
        Some(other) => {
            return Err(ConfigError::new(
                "LOG_FORMAT",
                format!("'{other}' is not one of: pretty, json"),
            ));
        }
    };
    Ok(LogConfig {
        format,
        filter: env.get("RUST_LOG"),
    })
}
