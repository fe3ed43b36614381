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

/// What `JWT_ALGORITHM` may name with `JWT_PRIVATE_KEY_FILE`/`JWT_PUBLIC_KEY_FILE`; without
/// them only HS256 (`JWT_SECRET`) signs.
pub const KEY_PAIR_ALGORITHMS: &[&str] = &["RS256", "ES256", "EdDSA"];

#[derive(Clone, Debug)]
pub struct AuthConfig {
    pub jwt_secret: Option<SecretString>,
    pub jwt_private_key_file: Option<PathBuf>,
    pub jwt_public_key_file: Option<PathBuf>,
    pub jwt_algorithm: Option<String>,
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
    let jwt_algorithm = env.get("JWT_ALGORITHM");
    check_signing(
        jwt_secret.as_ref(),
        jwt_private_key_file.is_some(),
        jwt_public_key_file.is_some(),
        jwt_algorithm.as_deref(),
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

/// The rules between `JWT_SECRET`, the key pair and `JWT_ALGORITHM`.
fn check_signing(
    secret: Option<&SecretString>,
    private_key: bool,
    public_key: bool,
    algorithm: Option<&str>,
    mysql: bool,
) -> Result<(), ConfigError> {
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
    if let Some(algorithm) = algorithm {
        if private_key && !KEY_PAIR_ALGORITHMS.contains(&algorithm) {
            return Err(ConfigError::new(
                "JWT_ALGORITHM",
                format!(
                    "'{algorithm}' is not one of {} (the algorithms of a key pair)",
                    KEY_PAIR_ALGORITHMS.join(", ")
                ),
            ));
        }
        if !private_key && algorithm != "HS256" {
            return Err(ConfigError::new(
                "JWT_ALGORITHM",
                format!(
                    "'{algorithm}' needs a key pair: set JWT_PRIVATE_KEY_FILE and JWT_PUBLIC_KEY_FILE, or unset JWT_ALGORITHM to sign with JWT_SECRET (HS256)"
                ),
            ));
        }
    }
    if mysql && secret.is_none() && !private_key {
        return Err(ConfigError::new(
            "JWT_SECRET",
            "required with a mysql:// DATABASE_URL (32+ bytes, or set JWT_PRIVATE_KEY_FILE/JWT_PUBLIC_KEY_FILE)",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::tests::{config, error};

    #[test]
    fn defaults() {
        let c = config(&[]).unwrap();
        assert_eq!(c.auth.access_token_ttl, Duration::from_secs(900));
        assert_eq!(c.auth.issuer, "adminql");
    }

    #[test]
    fn refusals_name_the_variable() {
        assert!(
            error(&[("DATABASE_URL", "mysql://u:p@db/app")]).starts_with("JWT_SECRET: required")
        );
        assert!(
            error(&[("JWT_SECRET", "short")]).starts_with("JWT_SECRET: must be at least 32 bytes")
        );
        assert!(
            error(&[("JWT_ALGORITHM", "RS256")])
                .starts_with("JWT_ALGORITHM: 'RS256' needs a key pair")
        );
        let pair = [
            ("JWT_PRIVATE_KEY_FILE", "k.pem"),
            ("JWT_PUBLIC_KEY_FILE", "k.pub"),
        ];
        assert!(
            error(&[pair[0], pair[1], ("JWT_ALGORITHM", "RS265")])
                .starts_with("JWT_ALGORITHM: 'RS265' is not one of RS256, ES256, EdDSA")
        );
        assert!(
            error(&[pair[0], pair[1], ("JWT_ALGORITHM", "HS256")])
                .starts_with("JWT_ALGORITHM: 'HS256'")
        );
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
