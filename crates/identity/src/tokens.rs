//! Access tokens (JWT, HS256 pinned, `iss`/`aud`/`exp` checked) and opaque refresh tokens.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use surge_kernel::auth::Role;
use surge_kernel::Millis;
use uuid::Uuid;

pub const ISSUER: &str = "surge";
pub const AUDIENCE: &str = "surge-api";

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: Uuid,
    pub role: Role,
    /// Session (refresh-token family) id.
    pub sid: Uuid,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    pub aud: String,
    pub jti: Uuid,
}

pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the access token is invalid")]
    Invalid,
    #[error("the access token has expired")]
    Expired,
}

impl JwtKeys {
    pub fn new(secret: &SecretString) -> Self {
        let bytes = secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        // Expiry is checked against the Clock port, not the system time.
        validation.validate_exp = false;
        Self {
            encoding: EncodingKey::from_secret(bytes),
            decoding: DecodingKey::from_secret(bytes),
            validation,
        }
    }

    pub fn issue(&self, claims: &Claims) -> anyhow::Result<String> {
        Ok(encode(
            &Header::new(Algorithm::HS256),
            claims,
            &self.encoding,
        )?)
    }

    pub fn verify(&self, token: &str, now: Millis) -> Result<Claims, TokenError> {
        let data = decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|_| TokenError::Invalid)?;
        if data.claims.exp * 1000 <= now {
            return Err(TokenError::Expired);
        }
        Ok(data.claims)
    }
}

/// A fresh opaque refresh token: 256 random bits, URL-safe.
pub fn new_refresh_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What is stored for a refresh token: its SHA-256 (tokens have full entropy, so no salt).
pub fn hash_refresh_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            sub: Uuid::now_v7(),
            role: Role::User,
            sid: Uuid::now_v7(),
            iat: 0,
            exp,
            iss: ISSUER.into(),
            aud: AUDIENCE.into(),
            jti: Uuid::now_v7(),
        }
    }

    #[test]
    fn tokens_verify_with_the_same_key_only() {
        let keys = JwtKeys::new(&SecretString::from("k".repeat(32)));
        let other = JwtKeys::new(&SecretString::from("x".repeat(32)));
        let t = keys.issue(&claims(100)).expect("a token is issued");
        assert!(keys.verify(&t, 99_000).is_ok());
        assert!(matches!(keys.verify(&t, 100_000), Err(TokenError::Expired)));
        assert!(matches!(other.verify(&t, 0), Err(TokenError::Invalid)));
    }

    #[test]
    fn unsigned_and_other_algorithms_are_refused() {
        let keys = JwtKeys::new(&SecretString::from("k".repeat(32)));
        // alg=none with the same claims
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let body = URL_SAFE_NO_PAD
            .encode(serde_json::to_vec(&claims(i64::MAX / 2000)).expect("claims serialize"));
        assert!(matches!(
            keys.verify(&format!("{header}.{body}."), 0),
            Err(TokenError::Invalid)
        ));
        let hs512 = encode(
            &Header::new(Algorithm::HS512),
            &claims(i64::MAX / 2000),
            &EncodingKey::from_secret("k".repeat(32).as_bytes()),
        )
        .expect("an HS512 token is made");
        assert!(matches!(keys.verify(&hs512, 0), Err(TokenError::Invalid)));
    }

    #[test]
    fn wrong_audience_is_refused() {
        let keys = JwtKeys::new(&SecretString::from("k".repeat(32)));
        let mut c = claims(i64::MAX / 2000);
        c.aud = "someone-else".into();
        let t = keys.issue(&c).expect("a token is issued");
        assert!(matches!(keys.verify(&t, 0), Err(TokenError::Invalid)));
    }

    #[test]
    fn refresh_tokens_are_random_and_hashed() {
        let a = new_refresh_token();
        assert_ne!(a, new_refresh_token());
        assert_eq!(hash_refresh_token(&a).len(), 64);
        assert_ne!(hash_refresh_token(&a), a);
    }
}
