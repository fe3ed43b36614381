//! Access tokens: signing and strict verification.
//!
//! HS256 with `JWT_SECRET` by default; RS256, ES256 or EdDSA with a PEM key pair. Verification
//! pins the one configured algorithm, requires `exp`, `nbf`, `iss`, `aud` and `sub` (listed in
//! `required_spec_claims`: the crate's defaults are not enough, CVE-2026-25537), validates
//! `nbf`, and allows a small leeway for clock skew.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::config::JwtAlgorithm;

/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECONDS: u64 = 30;

/// The claims of an adminql access token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The user id, as a string (RFC 7519).
    pub sub: String,
    pub exp: i64,
    pub iat: i64,
    pub nbf: i64,
    pub iss: String,
    pub aud: String,
    pub jti: String,
    /// The user's `token_version` when the token was issued; a bump revokes the token.
    pub token_version: i32,
}

impl Claims {
    pub fn user_id(&self) -> Option<i64> {
        self.sub.parse().ok()
    }
}

/// Signing and verification keys with the validation rules.
pub struct JwtKeys {
    algorithm: Algorithm,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl: Duration,
}

/// Why a token was refused; clients only ever see "invalid token".
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct InvalidToken(String);

impl JwtKeys {
    /// HS256 keys from a shared secret.
    pub fn hmac(secret: &[u8], issuer: &str, audience: &str, ttl: Duration) -> Self {
        Self::new(
            Algorithm::HS256,
            EncodingKey::from_secret(secret),
            DecodingKey::from_secret(secret),
            issuer,
            audience,
            ttl,
        )
    }

    /// Asymmetric keys from PEM text; `algorithm` is RS256, ES256 or EdDSA.
    pub fn pem(
        algorithm: JwtAlgorithm,
        private_pem: &[u8],
        public_pem: &[u8],
        issuer: &str,
        audience: &str,
        ttl: Duration,
    ) -> Result<Self, String> {
        let bad = |what: &str, e: jsonwebtoken::errors::Error| format!("{what}: {e}");
        let (alg, encoding, decoding) = match algorithm {
            JwtAlgorithm::RS256 => (
                Algorithm::RS256,
                EncodingKey::from_rsa_pem(private_pem)
                    .map_err(|e| bad("JWT_PRIVATE_KEY_FILE", e))?,
                DecodingKey::from_rsa_pem(public_pem).map_err(|e| bad("JWT_PUBLIC_KEY_FILE", e))?,
            ),
            JwtAlgorithm::ES256 => (
                Algorithm::ES256,
                EncodingKey::from_ec_pem(private_pem)
                    .map_err(|e| bad("JWT_PRIVATE_KEY_FILE", e))?,
                DecodingKey::from_ec_pem(public_pem).map_err(|e| bad("JWT_PUBLIC_KEY_FILE", e))?,
            ),
            JwtAlgorithm::EdDSA => (
                Algorithm::EdDSA,
                EncodingKey::from_ed_pem(private_pem)
                    .map_err(|e| bad("JWT_PRIVATE_KEY_FILE", e))?,
                DecodingKey::from_ed_pem(public_pem).map_err(|e| bad("JWT_PUBLIC_KEY_FILE", e))?,
            ),
            // The configuration refuses HS256 beside a key pair.
            JwtAlgorithm::HS256 => {
                return Err("JWT_ALGORITHM: HS256 signs with JWT_SECRET, not a key pair".into());
            }
        };
        Ok(Self::new(alg, encoding, decoding, issuer, audience, ttl))
    }

    fn new(
        algorithm: Algorithm,
        encoding: EncodingKey,
        decoding: DecodingKey,
        issuer: &str,
        audience: &str,
        ttl: Duration,
    ) -> Self {
        let mut validation = Validation::new(algorithm);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.leeway = LEEWAY_SECONDS;
        JwtKeys {
            algorithm,
            encoding,
            decoding,
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            ttl,
        }
    }

    /// Signs a token for `user_id`; returns it with its expiry (unix seconds).
    pub fn issue(&self, user_id: i64, token_version: i32) -> Result<(String, i64), InvalidToken> {
        let now = chrono::Utc::now().timestamp();
        let exp = now + self.ttl.as_secs() as i64;
        let claims = Claims {
            sub: user_id.to_string(),
            exp,
            iat: now,
            nbf: now,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            jti: uuid::Uuid::new_v4().to_string(),
            token_version,
        };
        jsonwebtoken::encode(&Header::new(self.algorithm), &claims, &self.encoding)
            .map(|token| (token, exp))
            .map_err(|e| InvalidToken(format!("signing failed: {e}")))
    }

    /// Verifies signature, algorithm and claims.
    pub fn verify(&self, token: &str) -> Result<Claims, InvalidToken> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| InvalidToken(e.to_string()))?;
        if data.claims.user_id().is_none() {
            return Err(InvalidToken("sub is not a user id".into()));
        }
        Ok(data.claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn keys() -> JwtKeys {
        JwtKeys::hmac(SECRET, "adminql", "adminql", Duration::from_secs(900))
    }

    fn sign(claims: serde_json::Value, alg: Algorithm, secret: &[u8]) -> String {
        jsonwebtoken::encode(
            &Header::new(alg),
            &claims,
            &EncodingKey::from_secret(secret),
        )
        .unwrap()
    }

    fn valid_claims() -> serde_json::Value {
        let now = chrono::Utc::now().timestamp();
        serde_json::json!({
            "sub": "1", "exp": now + 600, "iat": now, "nbf": now,
            "iss": "adminql", "aud": "adminql", "jti": "x", "token_version": 0
        })
    }

    #[test]
    fn round_trip() {
        let k = keys();
        let (token, exp) = k.issue(7, 3).unwrap();
        let claims = k.verify(&token).unwrap();
        assert_eq!(claims.user_id(), Some(7));
        assert_eq!(claims.token_version, 3);
        assert_eq!(claims.exp, exp);
    }

    #[test]
    fn refuses_bad_tokens() {
        let k = keys();
        assert!(
            k.verify(&sign(valid_claims(), Algorithm::HS256, SECRET))
                .is_ok()
        );
        assert!(
            k.verify(&sign(valid_claims(), Algorithm::HS512, SECRET))
                .is_err()
        );
        assert!(
            k.verify(&sign(
                valid_claims(),
                Algorithm::HS256,
                b"another-secret-another-secret-xx"
            ))
            .is_err()
        );
        let mut c = valid_claims();
        c["exp"] = serde_json::json!(c["exp"].as_i64().unwrap().to_string());
        assert!(
            k.verify(&sign(c, Algorithm::HS256, SECRET)).is_err(),
            "exp as a string"
        );
        for missing in ["exp", "nbf", "iss", "aud", "sub"] {
            let mut c = valid_claims();
            c.as_object_mut().unwrap().remove(missing);
            assert!(
                k.verify(&sign(c, Algorithm::HS256, SECRET)).is_err(),
                "{missing} missing"
            );
        }
        let mut c = valid_claims();
        c["aud"] = "someone-else".into();
        assert!(k.verify(&sign(c, Algorithm::HS256, SECRET)).is_err());
    }
}
