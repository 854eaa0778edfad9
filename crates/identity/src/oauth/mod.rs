//! OAuth2 login: `providers.rs` talks to Kakao, GitHub and 42 intra (authorize
//! redirect, code exchange, profile); `linking.rs` turns a provider's profile into a
//! signed-in Surge account.

mod linking;
pub mod providers;

pub use providers::{pkce_challenge, profile_of, OAuth, Profile, ProviderConfig, ProviderKind};
