//! The `ObjectStore` port over the `object_store` crate: a local directory in embedded
//! mode (the server: `<data_dir>/objects`), or an S3-compatible bucket (`[s3]`: AWS S3,
//! MinIO, Ceph, R2…) when configured, behind the same calls.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::{BackoffConfig, ClientOptions, ObjectStoreExt, PutPayload, RetryConfig};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use surge_kernel::error::DependencyUnavailable;
use surge_kernel::ports::ObjectStore;

/// An S3-compatible bucket. Env form: `SURGE_S3__BUCKET=…`, `SURGE_S3__ENDPOINT=…`.
#[derive(Clone, Debug, Deserialize)]
pub struct S3Config {
    /// The service's URL, e.g. `http://127.0.0.1:9000` (MinIO); default: AWS S3 of the
    /// region.
    #[serde(default)]
    pub endpoint: Option<String>,
    pub bucket: String,
    #[serde(default = "S3Config::default_region")]
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: SecretString,
    /// Every key starts with this (several deployments sharing a bucket), e.g. `surge`.
    #[serde(default)]
    pub prefix: String,
    /// `endpoint/bucket/key` requests (MinIO and most self-hosted stores) instead of
    /// `bucket.endpoint/key`.
    #[serde(default = "S3Config::default_path_style")]
    pub path_style: bool,
    /// The bound on one request, and how many times a failed one is tried again.
    #[serde(default = "S3Config::default_timeout_ms")]
    pub timeout_ms: u64,
    #[serde(default = "S3Config::default_retries")]
    pub retries: usize,
}

impl S3Config {
    fn default_region() -> String {
        "ap-northeast-2".into()
    }
    fn default_path_style() -> bool {
        true
    }
    fn default_timeout_ms() -> u64 {
        10_000
    }
    fn default_retries() -> usize {
        2
    }
}

pub struct Objects {
    inner: Arc<dyn object_store::ObjectStore>,
    /// A network service: its failures are a 503 `dependency_unavailable`, not a 500.
    remote: bool,
}

impl Objects {
    /// Objects as files under `dir` (created if missing).
    pub fn local(dir: &Path) -> anyhow::Result<Self> {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("creating object directory {}", dir.display()))?;
        let fs = LocalFileSystem::new_with_prefix(dir)
            .with_context(|| format!("opening object directory {}", dir.display()))?;
        Ok(Objects {
            inner: Arc::new(fs),
            remote: false,
        })
    }

    /// Objects in an S3-compatible bucket (which must exist). Requests are signed with
    /// the key (SigV4), bounded by `timeout_ms`, and retried `retries` times on 5xx and
    /// network errors within the same bound.
    pub fn s3(c: &S3Config) -> anyhow::Result<Self> {
        let timeout = Duration::from_millis(c.timeout_ms.max(1));
        let mut b = AmazonS3Builder::new()
            .with_bucket_name(&c.bucket)
            .with_region(&c.region)
            .with_access_key_id(&c.access_key_id)
            .with_secret_access_key(c.secret_access_key.expose_secret())
            .with_virtual_hosted_style_request(!c.path_style)
            .with_client_options(
                ClientOptions::new()
                    .with_timeout(timeout)
                    .with_connect_timeout(timeout.min(Duration::from_secs(5))),
            )
            .with_retry(RetryConfig {
                backoff: BackoffConfig::default(),
                max_retries: c.retries,
                retry_timeout: timeout,
            });
        if let Some(e) = &c.endpoint {
            b = b
                .with_endpoint(e.trim_end_matches('/'))
                .with_allow_http(e.starts_with("http://"));
        }
        let s3 = b
            .build()
            .with_context(|| format!("configuring the S3 bucket {}", c.bucket))?;
        let inner: Arc<dyn object_store::ObjectStore> = if c.prefix.is_empty() {
            Arc::new(s3)
        } else {
            let prefix = Self::path(&c.prefix)?;
            Arc::new(PrefixStore::new(s3, prefix))
        };
        Ok(Objects {
            inner,
            remote: true,
        })
    }

    /// `e` while doing `what`; a remote store's failure reads as unavailable.
    fn failed(&self, e: object_store::Error, what: String) -> anyhow::Error {
        if self.remote {
            anyhow::Error::new(DependencyUnavailable {
                dependency: "the object store (S3)",
                detail: format!("{what}: {e}"),
            })
        } else {
            anyhow::Error::new(e).context(what)
        }
    }

    fn path(key: &str) -> anyhow::Result<ObjectPath> {
        // Parsing refuses `..`, empty segments and the like: a key never leaves the store.
        ObjectPath::parse(key).with_context(|| format!("invalid object key {key:?}"))
    }
}

#[async_trait]
impl ObjectStore for Objects {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> anyhow::Result<()> {
        self.inner
            .put(&Self::path(key)?, PutPayload::from(bytes))
            .await
            .map_err(|e| self.failed(e, format!("storing object {key}")))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        match self.inner.get(&Self::path(key)?).await {
            Ok(found) => Ok(Some(
                found
                    .bytes()
                    .await
                    .map_err(|e| self.failed(e, format!("reading object {key}")))?
                    .to_vec(),
            )),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.failed(e, format!("reading object {key}"))),
        }
    }

    async fn delete(&self, key: &str) -> anyhow::Result<()> {
        match self.inner.delete(&Self::path(key)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(self.failed(e, format!("deleting object {key}"))),
        }
    }
}
