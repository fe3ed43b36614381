//! The reader every loader goes through: one lookup (the process environment, or a map in
//! tests) where an empty value counts as unset, and the typed parsers that turn a value into a
//! duration, a number, a boolean, a size, origins or networks, each failing with a
//! [`ConfigError`] that names the variable and the form it expects.
//!
//! The reader records every variable it is asked for: that record is the list of variables
//! adminql reads (`super::known_vars`), so a loader asks for each of its variables on every
//! run, whatever the values of the others.

use std::cell::RefCell;
use std::time::Duration;

use super::ConfigError;

type Lookup = Box<dyn Fn(&str) -> Option<String>>;

/// The environment as the loaders see it.
pub(super) struct Env {
    lookup: Lookup,
    read: RefCell<Vec<&'static str>>,
}

impl Env {
    /// Reads through `lookup`; empty (or blank) values count as unset.
    pub(super) fn new(lookup: impl Fn(&str) -> Option<String> + 'static) -> Self {
        Self {
            lookup: Box::new(move |k| lookup(k).filter(|v| !v.trim().is_empty())),
            read: RefCell::new(Vec::new()),
        }
    }

    /// Every variable asked for so far, once each, in the order first asked.
    pub(super) fn read(&self) -> Vec<&'static str> {
        self.read.borrow().clone()
    }

    pub(super) fn get(&self, var: &'static str) -> Option<String> {
        let mut read = self.read.borrow_mut();
        if !read.contains(&var) {
            read.push(var);
        }
        drop(read);
        (self.lookup)(var)
    }

    /// A variable adminql no longer reads, looked at only to refuse a value that would now be
    /// ignored. Not recorded: it is not one of the variables adminql reads.
    pub(super) fn retired(&self, var: &'static str) -> Option<String> {
        (self.lookup)(var)
    }

    pub(super) fn duration(
        &self,
        var: &'static str,
        default: &str,
    ) -> Result<Duration, ConfigError> {
        let parsed = self.duration_or_zero(var, default)?;
        if parsed.is_zero() {
            return Err(ConfigError::new(var, "must be greater than zero"));
        }
        Ok(parsed)
    }

    /// A duration where zero means "off".
    pub(super) fn duration_or_zero(
        &self,
        var: &'static str,
        default: &str,
    ) -> Result<Duration, ConfigError> {
        let raw = self.get(var).unwrap_or_else(|| default.into());
        humantime::parse_duration(raw.trim()).map_err(|_| {
            ConfigError::new(
                var,
                format!("'{raw}' is not a duration like 500ms, 5s or 15m"),
            )
        })
    }

    pub(super) fn number<T>(
        &self,
        var: &'static str,
        default: T,
        range: std::ops::RangeInclusive<T>,
    ) -> Result<T, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
    {
        let Some(raw) = self.get(var) else {
            return Ok(default);
        };
        match raw.trim().parse::<T>() {
            Ok(n) if range.contains(&n) => Ok(n),
            _ => Err(ConfigError::new(
                var,
                format!(
                    "'{raw}' is not a whole number from {} to {}",
                    range.start(),
                    range.end()
                ),
            )),
        }
    }

    pub(super) fn boolean(&self, var: &'static str) -> Result<Option<bool>, ConfigError> {
        boolean(var, self.get(var))
    }

    pub(super) fn bytes(&self, var: &'static str, default: usize) -> Result<usize, ConfigError> {
        let Some(raw) = self.get(var) else {
            return Ok(default);
        };
        parse_bytes(&raw).ok_or_else(|| {
            ConfigError::new(
                var,
                format!("'{raw}' is not a size like 1048576, 512KiB or 1MiB"),
            )
        })
    }

    /// The non-empty entries of a comma-separated list (none when unset).
    pub(super) fn list(&self, var: &'static str) -> Vec<String> {
        self.get(var)
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

/// `true`/`1`/`yes`/`on` or `false`/`0`/`no`/`off`, any case; `None` when unset.
pub(super) fn boolean(var: &'static str, raw: Option<String>) -> Result<Option<bool>, ConfigError> {
    match raw.map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None => Ok(None),
        Some("true" | "1" | "yes" | "on") => Ok(Some(true)),
        Some("false" | "0" | "no" | "off") => Ok(Some(false)),
        Some(other) => Err(ConfigError::new(
            var,
            format!("'{other}' is not a boolean (true or false)"),
        )),
    }
}

fn parse_bytes(raw: &str) -> Option<usize> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (digits, unit) = raw.split_at(split);
    let n: usize = digits.parse().ok()?;
    let factor = match unit.trim() {
        "" | "B" => 1,
        "KiB" | "K" | "k" => 1024,
        "MiB" | "M" => 1024 * 1024,
        _ => return None,
    };
    n.checked_mul(factor).filter(|&v| v > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_each_variable_asked_for_once_in_order() {
        let env = Env::new(|k| (k == "B").then(|| "  ".to_owned()));
        assert_eq!(env.get("B"), None, "blank counts as unset");
        assert_eq!(env.retired("C"), None);
        env.get("A");
        env.get("B");
        assert_eq!(env.read(), ["B", "A"], "retired variables are not recorded");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("512KiB"), Some(512 * 1024));
        assert_eq!(parse_bytes("2MiB"), Some(2 * 1024 * 1024));
        assert_eq!(parse_bytes("100"), Some(100));
        assert_eq!(parse_bytes("0"), None);
        assert_eq!(parse_bytes("x"), None);
    }
}
