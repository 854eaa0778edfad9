//! The `ObjectStore` port over the `object_store` crate: a local directory in embedded
//! mode (the server: `<data_dir>/objects`). The crate speaks S3 too (its `aws` feature),
//! behind the same four calls, when an S3-compatible store is wanted.

use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use async_trait::async_trait;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStoreExt, PutPayload};
use surge_kernel::ports::ObjectStore;

pub struct Objects {
    inner: Arc<dyn object_store::ObjectStore>,
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
        })
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
            .with_context(|| format!("storing object {key}"))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> anyhow::Result<Option<Vec<u8>>> {
        match self.inner.get(&Self::path(key)?).await {
            Ok(found) => Ok(Some(
                found
                    .bytes()
                    .await
                    .with_context(|| format!("reading object {key}"))?
                    .to_vec(),
            )),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e).with_context(|| format!("reading object {key}")),
        }
    }

    async fn delete(&self, key: &str) -> anyhow::Result<()> {
        match self.inner.delete(&Self::path(key)?).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e).with_context(|| format!("deleting object {key}")),
        }
    }
}
