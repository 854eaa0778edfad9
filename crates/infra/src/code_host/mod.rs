//! Adapters of the `CodeHost` port: [`github::GitHub`] (the REST API, optional token,
//! ETags kept in the `Cache` port) and [`fake::FakeCodeHost`] (offline, for the
//! embedded mode and tests).

pub mod fake;
pub mod github;

pub use fake::FakeCodeHost;
pub use github::{GitHub, GitHubConfig};
