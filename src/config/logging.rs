//! How the log is written (see `telemetry`).
//!
//! Reads `LOG_FORMAT`.

use super::ConfigError;
use super::env::Env;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

pub(super) fn load(env: &Env) -> Result<LogFormat, ConfigError> {
    match env.get("LOG_FORMAT").as_deref() {
        None | Some("pretty") => Ok(LogFormat::Pretty),
        Some("json") => Ok(LogFormat::Json),
        Some(other) => Err(ConfigError::new(
            "LOG_FORMAT",
            format!("'{other}' is not one of: pretty, json"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::error;

    #[test]
    fn refusals_name_the_variable() {
        assert!(error(&[("LOG_FORMAT", "xml")]).starts_with("LOG_FORMAT: 'xml'"));
    }
}
