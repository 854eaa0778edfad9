//! The local-directory object store and the S3 adapter (against the S3-compatible
//! service at `SURGE_TEST_S3_URL`, moto in CI) pass the `ObjectStore` contract.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use surge_infra::objects::Objects;

surge_testkit::object_store_contract!(local_directory, async {
    let dir = std::env::temp_dir().join(format!("surge-objects-{}", uuid::Uuid::new_v4()));
    Some(Objects::local(&dir).unwrap())
});

surge_testkit::object_store_contract!(s3_bucket, async {
    let url = surge_testkit::configured_or_skip("SURGE_TEST_S3_URL")?;
    Some(Objects::s3(&surge_testkit::s3_config(&url).await).unwrap())
});
