//! The providers: configuration, the authorize redirect and the code exchange.
//!
//! OAuth2 login (authorization code + PKCE S256 + one-time state) for Kakao, GitHub
//! and 42 intra. Endpoints default to the providers' public ones and can be overridden
//! (tests point them at a local fake provider). 42 intra does not document PKCE: the
//! challenge is sent and ignored there, and the one-time state protects that flow.
//!
//! GitHub specifics (docs.github.com): the token endpoint answers a bad or expired code,
//! a redirect or verifier mismatch with HTTP 200 and an `error` field ("Troubleshooting
//! OAuth app access token request errors"); `/user`'s `email` is only the public
//! address, so the verified one comes from `GET /user/emails` ("List email addresses
//! for the authenticated user", `user:email` scope), taken next to the user-info URL.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use surge_kernel::ports::Cache;
use surge_kernel::ApiError;

const STATE_TTL: Duration = Duration::from_secs(10 * 60);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProviderKind {
    Kakao,
    Github,
    Intra42,
}

impl ProviderKind {
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "kakao" => Some(Self::Kakao),
            "github" => Some(Self::Github),
            "intra42" | "42" => Some(Self::Intra42),
            _ => None,
        }
    }

    /// (authorize, token, userinfo, scopes) of the real provider.
    fn defaults(
        self,
    ) -> (
        &'static str,
        &'static str,
        &'static str,
        &'static [&'static str],
    ) {
        match self {
            Self::Kakao => (
                "https://kauth.kakao.com/oauth/authorize",
                "https://kauth.kakao.com/oauth/token",
                "https://kapi.kakao.com/v2/user/me",
                &["profile_nickname", "account_email"],
            ),
            Self::Github => (
                "https://github.com/login/oauth/authorize",
                "https://github.com/login/oauth/access_token",
                "https://api.github.com/user",
                &["read:user", "user:email"],
            ),
            Self::Intra42 => (
                "https://api.intra.42.fr/oauth/authorize",
                "https://api.intra.42.fr/oauth/token",
                "https://api.intra.42.fr/v2/me",
                &["public"],
            ),
        }
    }
}

/// One configured provider, as written under `[oauth.<name>]` in configuration.
#[derive(Clone, Deserialize)]
pub struct ProviderConfig {
    /// `kakao`, `github` or `intra42`: also the path segment in the login URLs.
    #[serde(default)]
    pub name: String,
    pub client_id: String,
    pub client_secret: SecretString,
    /// Where the provider sends the browser back: `.../api/v1/identity/oauth/<name>/callback`.
    pub redirect_uri: String,
    pub authorize_url: Option<String>,
    pub token_url: Option<String>,
    pub userinfo_url: Option<String>,
    pub scopes: Option<Vec<String>>,
}

impl std::fmt::Debug for ProviderConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("name", &self.name)
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .field("redirect_uri", &self.redirect_uri)
            .finish()
    }
}

struct Provider {
    kind: ProviderKind,
    cfg: ProviderConfig,
    authorize_url: String,
    token_url: String,
    userinfo_url: String,
    scopes: Vec<String>,
}

/// What a provider tells us about the person logging in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub subject: String,
    pub email: Option<String>,
    /// Only a verified email may link to an existing account.
    pub email_verified: bool,
    pub nickname: String,
    /// The account's login name at the provider (GitHub's `login`), where it has one
    /// that other services know the person by.
    pub login: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct PendingLogin {
    provider: String,
    verifier: String,
}

pub struct OAuth {
    http: reqwest::Client,
    providers: HashMap<String, Provider>,
    cache: Arc<dyn Cache>,
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn provider_error(detail: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_GATEWAY, "oauth_provider_error", detail)
}

impl OAuth {
    pub fn new(configs: &[ProviderConfig], cache: Arc<dyn Cache>) -> anyhow::Result<Self> {
        let mut providers = HashMap::new();
        for cfg in configs {
            let kind = ProviderKind::from_name(&cfg.name).ok_or_else(|| {
                anyhow::anyhow!(
                    "unknown OAuth provider {:?} (kakao, github, intra42)",
                    cfg.name
                )
            })?;
            let (auth, token, info, scopes) = kind.defaults();
            providers.insert(
                cfg.name.clone(),
                Provider {
                    kind,
                    authorize_url: cfg.authorize_url.clone().unwrap_or_else(|| auth.into()),
                    token_url: cfg.token_url.clone().unwrap_or_else(|| token.into()),
                    userinfo_url: cfg.userinfo_url.clone().unwrap_or_else(|| info.into()),
                    scopes: cfg
                        .scopes
                        .clone()
                        .unwrap_or_else(|| scopes.iter().map(|s| (*s).to_owned()).collect()),
                    cfg: cfg.clone(),
                },
            );
        }
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(10))
            .user_agent("surge")
            .build()?;
        Ok(Self {
            http,
            providers,
            cache,
        })
    }

    pub fn names(&self) -> Vec<String> {
        self.providers.keys().cloned().collect()
    }

    fn provider(&self, name: &str) -> Result<&Provider, ApiError> {
        self.providers.get(name).ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_provider",
                format!("no OAuth provider named {name:?} is configured"),
            )
        })
    }

    /// The provider URL to send the browser to; remembers state and PKCE verifier.
    #[tracing::instrument(skip(self))]
    pub async fn authorize_url(&self, name: &str) -> Result<String, ApiError> {
        let p = self.provider(name)?;
        let state = random_token();
        let verifier = random_token();
        let pending = serde_json::to_vec(&PendingLogin {
            provider: name.to_owned(),
            verifier: verifier.clone(),
        })
        .map_err(ApiError::internal)?;
        self.cache
            .set(
                &format!("identity:oauth_state:{state}"),
                &pending,
                STATE_TTL,
            )
            .await?;
        let mut url = url::Url::parse(&p.authorize_url).map_err(ApiError::internal)?;
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &p.cfg.client_id)
            .append_pair("redirect_uri", &p.cfg.redirect_uri)
            .append_pair("scope", &p.scopes.join(" "))
            .append_pair("state", &state)
            .append_pair("code_challenge", &pkce_challenge(&verifier))
            .append_pair("code_challenge_method", "S256");
        Ok(url.to_string())
    }

    /// Checks the one-time state, exchanges the code, and reads the user's profile.
    #[tracing::instrument(skip(self, code, state))]
    pub async fn complete(&self, name: &str, code: &str, state: &str) -> Result<Profile, ApiError> {
        let p = self.provider(name)?;
        let bad_state = || {
            ApiError::bad_request(
                "invalid_oauth_state",
                "the login state is unknown, expired or already used; start the login again",
            )
        };
        let pending: PendingLogin = self
            .cache
            .take(&format!("identity:oauth_state:{state}"))
            .await?
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or_else(bad_state)?;
        if pending.provider != name {
            return Err(bad_state());
        }
        let res = self
            .http
            .post(&p.token_url)
            .header("Accept", "application/json")
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", p.cfg.redirect_uri.as_str()),
                ("client_id", p.cfg.client_id.as_str()),
                ("client_secret", p.cfg.client_secret.expose_secret()),
                ("code_verifier", pending.verifier.as_str()),
            ])
            .send()
            .await
            .map_err(|e| provider_error(format!("token endpoint unreachable: {e}")))?;
        let access_token = token_of(res).await?;
        let info: serde_json::Value = self
            .http
            .get(&p.userinfo_url)
            .bearer_auth(&access_token)
            .header("Accept", "application/json")
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| provider_error(format!("user info request failed: {e}")))?
            .json()
            .await
            .map_err(|e| provider_error(format!("unexpected user info: {e}")))?;
        let mut profile = profile_of(p.kind, &info)
            .ok_or_else(|| provider_error("the provider's user info has no user id"))?;
        if p.kind == ProviderKind::Github {
            let verified = self.github_verified_email(p, &access_token).await?;
            profile.email_verified = verified.is_some();
            if verified.is_some() {
                profile.email = verified;
            }
        }
        Ok(profile)
    }

    /// The primary verified address from GitHub's `/user/emails`; None if there is none
    /// or the token may not read them (the `user:email` scope was not granted).
    async fn github_verified_email(
        &self,
        p: &Provider,
        access_token: &str,
    ) -> Result<Option<String>, ApiError> {
        #[derive(Deserialize)]
        struct GithubEmail {
            email: String,
            primary: bool,
            verified: bool,
        }
        let url = format!("{}/emails", p.userinfo_url.trim_end_matches('/'));
        let res = self
            .http
            .get(&url)
            .bearer_auth(access_token)
            .header("Accept", "application/vnd.github+json")
            .send()
            .await
            .map_err(|e| provider_error(format!("e-mail addresses request failed: {e}")))?;
        let status = res.status();
        if status.is_client_error() {
            tracing::info!(%status, "GitHub did not list the user's e-mail addresses");
            return Ok(None);
        }
        let emails: Vec<GithubEmail> = res
            .error_for_status()
            .map_err(|e| provider_error(format!("e-mail addresses request failed: {e}")))?
            .json()
            .await
            .map_err(|e| provider_error(format!("unexpected e-mail addresses: {e}")))?;
        Ok(emails
            .into_iter()
            .find(|e| e.primary && e.verified)
            .map(|e| e.email))
    }
}

/// The access token from the token endpoint's answer. A refusal is 400
/// `oauth_code_rejected` whether it comes as an HTTP error (RFC 6749 §5.2) or, as
/// GitHub does, as HTTP 200 with an `error` field; refused client credentials are our
/// configuration's fault (502 `oauth_provider_error`).
async fn token_of(res: reqwest::Response) -> Result<String, ApiError> {
    let status = res.status();
    let body: serde_json::Value = res.json().await.unwrap_or(serde_json::Value::Null);
    if let Some(error) = body["error"].as_str() {
        let description = body["error_description"].as_str().unwrap_or(error);
        if matches!(error, "incorrect_client_credentials" | "invalid_client") {
            return Err(provider_error(format!(
                "the provider refused our client credentials: {description}"
            )));
        }
        return Err(ApiError::bad_request(
            "oauth_code_rejected",
            format!("the provider refused the authorization code ({error}): {description}"),
        ));
    }
    if status.is_server_error() {
        return Err(provider_error(format!("token endpoint answered {status}")));
    }
    if !status.is_success() {
        return Err(ApiError::bad_request(
            "oauth_code_rejected",
            format!("the provider refused the authorization code ({status})"),
        ));
    }
    body["access_token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| provider_error("the token response has no access_token"))
}

/// Reads the provider's user-info document.
pub fn profile_of(kind: ProviderKind, v: &serde_json::Value) -> Option<Profile> {
    let subject = match &v["id"] {
        serde_json::Value::Number(n) => n.to_string(),
        serde_json::Value::String(s) if !s.is_empty() => s.clone(),
        _ => return None,
    };
    let s = |x: &serde_json::Value| x.as_str().map(str::to_owned);
    Some(match kind {
        ProviderKind::Github => Profile {
            nickname: s(&v["login"]).unwrap_or_else(|| format!("github{subject}")),
            // Only the public address (often null), not known to be verified: the
            // login reads `/user/emails` for the primary verified one.
            email: s(&v["email"]),
            email_verified: false,
            login: s(&v["login"]),
            subject,
        },
        ProviderKind::Kakao => {
            let account = &v["kakao_account"];
            Profile {
                nickname: s(&account["profile"]["nickname"])
                    .or_else(|| s(&v["properties"]["nickname"]))
                    .unwrap_or_else(|| format!("kakao{subject}")),
                email: s(&account["email"]),
                email_verified: account["is_email_verified"].as_bool().unwrap_or(false)
                    && account["is_email_valid"].as_bool().unwrap_or(true),
                login: None,
                subject,
            }
        }
        ProviderKind::Intra42 => Profile {
            nickname: s(&v["login"]).unwrap_or_else(|| format!("cadet{subject}")),
            // 42 addresses are issued by the school.
            email: s(&v["email"]),
            email_verified: true,
            login: None,
            subject,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_of_each_provider() {
        let gh = profile_of(
            ProviderKind::Github,
            &serde_json::json!({"id": 42, "login": "octo", "email": null}),
        );
        assert_eq!(
            gh.map(|p| (p.subject, p.nickname, p.email)),
            Some(("42".into(), "octo".into(), None))
        );
        let kakao = profile_of(
            ProviderKind::Kakao,
            &serde_json::json!({"id": 7, "kakao_account": {"email": "a@b.kr", "is_email_verified": true, "profile": {"nickname": "김카카오"}}}),
        );
        assert_eq!(
            kakao.map(|p| (p.nickname, p.email_verified)),
            Some(("김카카오".into(), true))
        );
        assert!(profile_of(ProviderKind::Intra42, &serde_json::json!({"login": "x"})).is_none());
    }

    #[test]
    fn pkce_challenge_is_rfc7636_s256() {
        // BASE64URL(SHA256(verifier)) without padding, computed independently (Python hashlib).
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUhj1nOxOjbeGVtITSGhs"),
            "w4KQGpbiY2SZa5WYx01LdZxNw9iEZ9ENpSrjOy9AmH4"
        );
    }
}
