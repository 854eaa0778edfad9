//! The local-directory object store passes the `ObjectStore` contract.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use surge_infra::objects::Objects;

surge_testkit::object_store_contract!(local_directory, async {
    let dir = std::env::temp_dir().join(format!("surge-objects-{}", uuid::Uuid::new_v4()));
    Some(Objects::local(&dir).unwrap())
});
