//! TLS to MySQL/MariaDB: `DB_TLS_MODE` and `DB_TLS_CA_FILE`, read and checked at start, and
//! the driver options they become for every connection adminql opens ([`super::connect`]).
//!
//! What each mode guarantees (rustls, TLS 1.2 or 1.3):
//! - `disabled`: plaintext, always.
//! - `preferred` (the default): TLS when the server offers it, plaintext when it does not
//!   (like the mysql client's PREFERRED). Once TLS starts, the certificate is checked as in
//!   `required`, and a failed check fails the connection: it never falls back to plaintext.
//! - `required`: TLS or no connection. Without `DB_TLS_CA_FILE` the certificate is not
//!   checked at all: the link is encrypted against eavesdroppers, not against an active man
//!   in the middle (MySQL's REQUIRED). With `DB_TLS_CA_FILE` it is checked exactly as in
//!   `verify_identity`: mysql_async 0.36 cannot check the chain without the host name (its
//!   "skip domain validation" switch is inert with rustls 0.23), so MySQL's VERIFY_CA is not
//!   offered.
//! - `verify_identity`: TLS or no connection; the certificate must chain to a certificate of
//!   `DB_TLS_CA_FILE` and name the host of the URL (a DNS name, or an IP address SAN for an
//!   IP literal). A CA file is required: the built-in public roots are never trusted, since a
//!   database's certificate almost always comes from a private CA (for one from a public CA,
//!   point `DB_TLS_CA_FILE` at the system bundle).

use std::path::PathBuf;
use std::sync::Arc;

use mysql_async::SslOpts;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::config::ConfigError;

/// `DB_TLS_MODE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TlsMode {
    Disabled,
    Preferred,
    Required,
    VerifyIdentity,
}

impl TlsMode {
    const ALL: [TlsMode; 4] = [
        TlsMode::Disabled,
        TlsMode::Preferred,
        TlsMode::Required,
        TlsMode::VerifyIdentity,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TlsMode::Disabled => "disabled",
            TlsMode::Preferred => "preferred",
            TlsMode::Required => "required",
            TlsMode::VerifyIdentity => "verify_identity",
        }
    }
}

/// How connections to MySQL/MariaDB servers use TLS; the same for the primary and every
/// replica. Cheap to clone.
#[derive(Clone, Debug)]
pub struct TlsSettings {
    pub mode: TlsMode,
    ca: Option<Arc<CaFile>>,
}

#[derive(Debug)]
struct CaFile {
    path: PathBuf,
    /// The file as read; every certificate in it parsed as a trust anchor at start.
    pem: Vec<u8>,
}

impl TlsSettings {
    /// From the raw values of `DB_TLS_MODE` and `DB_TLS_CA_FILE` (unset: `None`); `mysql`
    /// tells whether `DATABASE_URL` is a MySQL URL, the only kind these apply to.
    pub fn from_vars(
        mode: Option<&str>,
        ca_file: Option<&str>,
        mysql: bool,
    ) -> Result<Self, ConfigError> {
        let error = |var: &'static str, message: String| ConfigError { var, message };
        let mode = match mode.map(str::trim) {
            None => TlsMode::Preferred,
            Some(raw) => TlsMode::ALL
                .into_iter()
                .find(|m| m.as_str().eq_ignore_ascii_case(raw))
                .ok_or_else(|| {
                    error(
                        "DB_TLS_MODE",
                        format!(
                            "'{raw}' is not one of: disabled, preferred, required, verify_identity"
                        ),
                    )
                })?,
        };
        if !mysql && matches!(mode, TlsMode::Required | TlsMode::VerifyIdentity) {
            return Err(error(
                "DB_TLS_MODE",
                format!(
                    "{} needs a mysql:// DATABASE_URL (SQLite opens no network connection)",
                    mode.as_str()
                ),
            ));
        }
        let ca = match ca_file.map(str::trim) {
            None => None,
            Some(_) if !mysql => {
                return Err(error(
                    "DB_TLS_CA_FILE",
                    "needs a mysql:// DATABASE_URL (SQLite opens no network connection)".into(),
                ));
            }
            Some(_) if mode == TlsMode::Disabled => {
                return Err(error(
                    "DB_TLS_CA_FILE",
                    "is set but DB_TLS_MODE is disabled, which never uses it".into(),
                ));
            }
            Some(path) => Some(Arc::new(
                load_ca(path).map_err(|m| error("DB_TLS_CA_FILE", m))?,
            )),
        };
        if mode == TlsMode::VerifyIdentity && ca.is_none() {
            return Err(error(
                "DB_TLS_MODE",
                "verify_identity needs DB_TLS_CA_FILE, the PEM CA certificate(s) the servers' \
                 certificates chain to"
                    .into(),
            ));
        }
        Ok(TlsSettings { mode, ca })
    }

    /// Whether a server certificate is checked (chain and host name).
    pub fn verifies(&self) -> bool {
        self.ca.is_some()
    }

    /// The driver's TLS options for a TLS attempt; `None` in `disabled` mode.
    pub(super) fn ssl_opts(&self) -> Option<SslOpts> {
        if self.mode == TlsMode::Disabled {
            return None;
        }
        Some(match &self.ca {
            // Only the given CA is trusted: the driver's built-in public roots would let any
            // publicly trusted certificate for the host name pass.
            Some(ca) => SslOpts::default()
                .with_root_certs(vec![ca.pem.clone().into()])
                .with_disable_built_in_roots(true),
            None => SslOpts::default().with_danger_accept_invalid_certs(true),
        })
    }

    /// For error messages: the mode, and the CA file when one is set.
    pub(super) fn describe(&self) -> String {
        match &self.ca {
            Some(ca) => format!(
                "DB_TLS_MODE={}, DB_TLS_CA_FILE={}",
                self.mode.as_str(),
                ca.path.display()
            ),
            None => format!("DB_TLS_MODE={}", self.mode.as_str()),
        }
    }
}

/// Reads a PEM file of CA certificates and checks that each one is a usable trust anchor.
fn load_ca(path: &str) -> Result<CaFile, String> {
    let pem = std::fs::read(path).map_err(|e| format!("cannot read {path}: {e}"))?;
    let mut roots = rustls::RootCertStore::empty();
    for (i, cert) in CertificateDer::pem_slice_iter(&pem).enumerate() {
        let cert =
            cert.map_err(|e| format!("{path}: certificate {} is not valid PEM: {e}", i + 1))?;
        roots.add(cert).map_err(|e| {
            format!(
                "{path}: certificate {} is not a usable CA certificate: {e}",
                i + 1
            )
        })?;
    }
    if roots.is_empty() {
        return Err(format!(
            "{path} holds no PEM certificate (-----BEGIN CERTIFICATE-----)"
        ));
    }
    Ok(CaFile {
        path: PathBuf::from(path),
        pem,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(mode: Option<&str>, ca: Option<&str>, mysql: bool) -> String {
        TlsSettings::from_vars(mode, ca, mysql)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn modes_and_defaults() {
        let default = TlsSettings::from_vars(None, None, true).unwrap();
        assert_eq!(default.mode, TlsMode::Preferred);
        assert!(!default.verifies());
        assert!(default.ssl_opts().unwrap().accept_invalid_certs());
        for mode in TlsMode::ALL
            .into_iter()
            .filter(|m| *m != TlsMode::VerifyIdentity)
        {
            let settings = TlsSettings::from_vars(Some(mode.as_str()), None, true).unwrap();
            assert_eq!(settings.mode, mode);
        }
        assert!(
            TlsSettings::from_vars(Some("disabled"), None, true)
                .unwrap()
                .ssl_opts()
                .is_none()
        );
        // SQLite: the default and `disabled` are accepted, as nothing connects over a network.
        assert!(TlsSettings::from_vars(Some("disabled"), None, false).is_ok());
        assert!(TlsSettings::from_vars(None, None, false).is_ok());
    }

    #[test]
    fn refusals_name_the_variable() {
        assert_eq!(
            error(Some("on"), None, true),
            "DB_TLS_MODE: 'on' is not one of: disabled, preferred, required, verify_identity"
        );
        assert!(
            error(Some("verify_identity"), None, true)
                .starts_with("DB_TLS_MODE: verify_identity needs DB_TLS_CA_FILE")
        );
        assert!(
            error(Some("required"), None, false)
                .starts_with("DB_TLS_MODE: required needs a mysql://")
        );
        assert!(error(None, Some("/x.pem"), false).starts_with("DB_TLS_CA_FILE: needs a mysql://"));
        assert!(
            error(Some("disabled"), Some("/x.pem"), true)
                .starts_with("DB_TLS_CA_FILE: is set but DB_TLS_MODE is disabled")
        );
        let missing = error(Some("required"), Some("/nonexistent/ca.pem"), true);
        assert!(
            missing.starts_with("DB_TLS_CA_FILE: cannot read /nonexistent/ca.pem:"),
            "{missing}"
        );
        assert!(!missing.contains('\n'));
    }

    #[test]
    fn a_ca_file_is_the_only_trust_anchor() {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca = params
            .self_signed(&rcgen::KeyPair::generate().unwrap())
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, ca.pem()).unwrap();
        let settings =
            TlsSettings::from_vars(Some("verify_identity"), path.to_str(), true).unwrap();
        assert!(settings.verifies());
        let opts = settings.ssl_opts().unwrap();
        assert!(opts.disable_built_in_roots());
        assert!(!opts.accept_invalid_certs());
        assert_eq!(opts.root_certs().len(), 1);
    }

    #[test]
    fn a_ca_file_must_hold_usable_certificates() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, text: &str| {
            let path = dir.path().join(name);
            std::fs::write(&path, text).unwrap();
            path.to_str().unwrap().to_owned()
        };
        let empty = write("empty.pem", "not a certificate\n");
        assert!(
            error(None, Some(&empty), true)
                .ends_with("holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
        );
        let garbage = write(
            "garbage.pem",
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        );
        let refused = error(None, Some(&garbage), true);
        assert!(
            refused.starts_with("DB_TLS_CA_FILE: ")
                && refused.contains("certificate 1 is not a usable CA certificate"),
            "{refused}"
        );
    }
}
