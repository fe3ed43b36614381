//! How access tokens are signed and how long they live; sign-in limits; the bootstrap admin.
//!
//! Reads `JWT_SECRET`, `JWT_PRIVATE_KEY_FILE`, `JWT_PUBLIC_KEY_FILE`, `JWT_ALGORITHM`,
//! `JWT_ISSUER`, `JWT_AUDIENCE`, `ACCESS_TOKEN_TTL`, `REFRESH_TOKEN_TTL`,
//! `PASSWORD_MIN_LENGTH`, `LOGIN_RATE_LIMIT_PER_IP`, `LOGIN_RATE_LIMIT_PER_ACCOUNT`,
//! `ADMIN_EMAIL` and `ADMIN_PASSWORD`. `JWT_SECRET` and `ADMIN_PASSWORD` are held as
//! [`SecretString`].

use std::path::PathBuf;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use super::ConfigError;
use super::env::Env;

/// What signs access tokens (`JWT_ALGORITHM`): HS256 with `JWT_SECRET`, the others with the
/// key pair in `JWT_PRIVATE_KEY_FILE`/`JWT_PUBLIC_KEY_FILE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JwtAlgorithm {
    HS256,
    RS256,
    ES256,
    EdDSA,
}

impl JwtAlgorithm {
    pub const ALL: [Self; 4] = [Self::HS256, Self::RS256, Self::ES256, Self::EdDSA];

    /// The name `JWT_ALGORITHM` takes, spelled as in a token's header.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::HS256 => "HS256",
            Self::RS256 => "RS256",
            Self::ES256 => "ES256",
            Self::EdDSA => "EdDSA",
        }
    }

    /// Whether it signs with a key pair rather than `JWT_SECRET`.
    pub fn uses_key_pair(self) -> bool {
        self != Self::HS256
    }

    /// `raw` as spelled by [`Self::as_str`] (case matters, as in a token's header).
    fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.as_str() == raw)
    }

    /// The names of the algorithms `key_pair` allows, for messages: "RS256, ES256, EdDSA".
    fn names(key_pair: bool) -> String {
        let names: Vec<_> = Self::ALL
            .into_iter()
            .filter(|a| !key_pair || a.uses_key_pair())
            .map(Self::as_str)
            .collect();
        names.join(", ")
    }
}

#[derive(Clone, Debug)]
pub struct AuthConfig {
    pub jwt_secret: Option<SecretString>,
    pub jwt_private_key_file: Option<PathBuf>,
    pub jwt_public_key_file: Option<PathBuf>,
    /// `JWT_ALGORITHM`; unset: RS256 with a key pair, HS256 without.
    pub jwt_algorithm: JwtAlgorithm,
    pub issuer: String,
    pub audience: String,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub password_min_length: usize,
    pub login_rate_limit_per_ip: u32,
    pub login_rate_limit_per_account: u32,
    pub admin_email: Option<String>,
    pub admin_password: Option<SecretString>,
}

/// `mysql`: whether `DATABASE_URL` is a mysql:// URL, where a signing key is required.
pub(super) fn load(env: &Env, mysql: bool) -> Result<AuthConfig, ConfigError> {
    let jwt_secret = env.get("JWT_SECRET").map(SecretString::from);
    let jwt_private_key_file = env.get("JWT_PRIVATE_KEY_FILE").map(PathBuf::from);
    let jwt_public_key_file = env.get("JWT_PUBLIC_KEY_FILE").map(PathBuf::from);
    let jwt_algorithm = signing(
        jwt_secret.as_ref(),
        jwt_private_key_file.is_some(),
        jwt_public_key_file.is_some(),
        env.get("JWT_ALGORITHM").as_deref(),
        mysql,
    )?;
    Ok(AuthConfig {
        jwt_secret,
        jwt_private_key_file,
        jwt_public_key_file,
        jwt_algorithm,
        issuer: env.get("JWT_ISSUER").unwrap_or_else(|| "adminql".into()),
        audience: env.get("JWT_AUDIENCE").unwrap_or_else(|| "adminql".into()),
        access_token_ttl: env.duration("ACCESS_TOKEN_TTL", "15m")?,
        refresh_token_ttl: env.duration("REFRESH_TOKEN_TTL", "14d")?,
        password_min_length: env.number("PASSWORD_MIN_LENGTH", 12, 8..=1024)?,
        login_rate_limit_per_ip: env.number("LOGIN_RATE_LIMIT_PER_IP", 10, 1..=100_000)?,
        login_rate_limit_per_account: env.number("LOGIN_RATE_LIMIT_PER_ACCOUNT", 5, 1..=100_000)?,
        admin_email: env.get("ADMIN_EMAIL"),
        admin_password: env.get("ADMIN_PASSWORD").map(SecretString::from),
    })
}

/// The rules between `JWT_SECRET`, the key pair and `JWT_ALGORITHM`; the algorithm that signs.
fn signing(
    secret: Option<&SecretString>,
    private_key: bool,
    public_key: bool,
    algorithm: Option<&str>,
    mysql: bool,
) -> Result<JwtAlgorithm, ConfigError> {
    // Beside a key pair the secret is not used (auth::keys warns), so its length is moot.
    if let Some(secret) = secret
        && !private_key
        && secret.expose_secret().len() < 32
    {
        return Err(ConfigError::new(
            "JWT_SECRET",
            "must be at least 32 bytes (try: openssl rand -base64 48)",
        ));
    }
    if private_key != public_key {
        return Err(ConfigError::new(
            "JWT_PRIVATE_KEY_FILE",
            "JWT_PRIVATE_KEY_FILE and JWT_PUBLIC_KEY_FILE must be set together",
        ));
    }
    let algorithm = match algorithm {
        None if private_key => JwtAlgorithm::RS256,
        None => JwtAlgorithm::HS256,
        Some(raw) => algorithm_for(raw, private_key)?,
    };
    if mysql && secret.is_none() && !private_key {
        return Err(ConfigError::new(
            "JWT_SECRET",
            "required with a mysql:// DATABASE_URL (32+ bytes, or set JWT_PRIVATE_KEY_FILE/JWT_PUBLIC_KEY_FILE)",
        ));
    }
    Ok(algorithm)
}

/// `JWT_ALGORITHM=raw`, with a key pair or without one.
fn algorithm_for(raw: &str, key_pair: bool) -> Result<JwtAlgorithm, ConfigError> {
    let refuse = |message: String| Err(ConfigError::new("JWT_ALGORITHM", message));
    match JwtAlgorithm::parse(raw) {
        Some(algorithm) if algorithm.uses_key_pair() == key_pair => Ok(algorithm),
        _ if key_pair => refuse(format!(
            "'{raw}' is not one of {} (the algorithms of a key pair)",
            JwtAlgorithm::names(true)
        )),
        Some(_) => refuse(format!(
            "'{raw}' needs a key pair: set JWT_PRIVATE_KEY_FILE and JWT_PUBLIC_KEY_FILE, or unset JWT_ALGORITHM to sign with JWT_SECRET (HS256)"
        )),
        None => refuse(format!(
            "'{raw}' is not one of {}",
            JwtAlgorithm::names(false)
        )),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::tests::{config, error, refuses};
    use super::JwtAlgorithm;

    const PAIR: [(&str, &str); 2] = [
        ("JWT_PRIVATE_KEY_FILE", "k.pem"),
        ("JWT_PUBLIC_KEY_FILE", "k.pub"),
    ];

    #[test]
    fn defaults() {
        let c = config(&[]).unwrap();
        assert_eq!(c.auth.access_token_ttl, Duration::from_secs(900));
        assert_eq!(c.auth.issuer, "adminql");
        assert_eq!(c.auth.jwt_algorithm, JwtAlgorithm::HS256);
        let c = config(&PAIR).unwrap();
        assert_eq!(
            c.auth.jwt_algorithm,
            JwtAlgorithm::RS256,
            "a key pair's default"
        );
    }

    #[test]
    fn algorithms_parse_once_into_the_enum() {
        for algorithm in JwtAlgorithm::ALL {
            let vars = [PAIR[0], PAIR[1], ("JWT_ALGORITHM", algorithm.as_str())];
            let vars = if algorithm.uses_key_pair() {
                &vars[..]
            } else {
                &vars[2..]
            };
            assert_eq!(config(vars).unwrap().auth.jwt_algorithm, algorithm);
        }
        assert_eq!(
            error(&[("JWT_ALGORITHM", "RS265")]),
            "JWT_ALGORITHM: 'RS265' is not one of HS256, RS256, ES256, EdDSA"
        );
    }

    #[test]
    fn key_pair_algorithms() {
        let pair = PAIR;
        refuses(&[
            (
                &[pair[0], pair[1], ("JWT_ALGORITHM", "RS265")],
                "JWT_ALGORITHM: 'RS265' is not one of RS256, ES256, EdDSA",
            ),
            (
                &[pair[0], pair[1], ("JWT_ALGORITHM", "HS256")],
                "JWT_ALGORITHM: 'HS256'",
            ),
        ]);
        assert!(config(&[("JWT_ALGORITHM", "HS256")]).is_ok());
        assert!(
            config(&[
                pair[0],
                pair[1],
                ("JWT_ALGORITHM", "EdDSA"),
                ("JWT_SECRET", "short")
            ])
            .is_ok(),
            "a secret beside a key pair is ignored, whatever its length"
        );
    }
}
