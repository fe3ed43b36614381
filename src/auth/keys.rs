//! Where the signing keys come from: a PEM key pair, `JWT_SECRET`, or (embedded mode only) a
//! secret generated on first start and kept in the database's `settings` table, so tokens
//! survive restarts without configuration.

use crate::config::Config;
use crate::db::Database;

use super::jwt::JwtKeys;
use super::repo;

const SETTING: &str = "jwt_secret";

pub async fn load(config: &Config, db: &Database) -> anyhow::Result<JwtKeys> {
    use secrecy::ExposeSecret;
    let auth = &config.auth;
    if let (Some(private), Some(public)) = (&auth.jwt_private_key_file, &auth.jwt_public_key_file) {
        let read = |var: &str, path: &std::path::Path| {
            std::fs::read(path)
                .map_err(|e| anyhow::anyhow!("{var}: cannot read {}: {e}", path.display()))
        };
        if auth.jwt_secret.is_some() {
            tracing::warn!(
                "JWT_SECRET is ignored: the key pair in JWT_PRIVATE_KEY_FILE and JWT_PUBLIC_KEY_FILE signs tokens"
            );
        }
        return JwtKeys::pem(
            auth.jwt_algorithm,
            &read("JWT_PRIVATE_KEY_FILE", private)?,
            &read("JWT_PUBLIC_KEY_FILE", public)?,
            &auth.issuer,
            &auth.audience,
            auth.access_token_ttl,
        )
        .map_err(anyhow::Error::msg);
    }
    let secret = match &auth.jwt_secret {
        Some(secret) => secret.expose_secret().to_owned(),
        None => stored_secret(db).await?,
    };
    Ok(JwtKeys::hmac(
        secret.as_bytes(),
        &auth.issuer,
        &auth.audience,
        auth.access_token_ttl,
    ))
}

async fn stored_secret(db: &Database) -> anyhow::Result<String> {
    let (mut conn, _) = db.write().await?;
    if let Some(secret) = repo::get_setting(&mut conn, SETTING).await? {
        return Ok(secret);
    }
    let bytes: [u8; 32] = rand::random();
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    repo::insert_setting(&mut conn, SETTING, &secret).await?;
    tracing::warn!(
        "JWT_SECRET is not set: generated one and stored it in the database (embedded mode only)"
    );
    Ok(secret)
}
