//! The `ObjectStore` contract: [`object_store_contract!`](crate::object_store_contract).

use surge_kernel::ports::ObjectStore;

/// One test per case of the `ObjectStore` contract for the adapter `$make` gives (see
/// the [module doc](crate::contracts)).
#[macro_export]
macro_rules! object_store_contract {
    ($name:ident, $make:expr $(, after = $after:path)? $(,)?) => {
        $crate::__contract_tests!(object_store, $name, $make, [$($after)?], [
            put_get_overwrite_and_delete,
            a_missing_object_reads_as_none_and_deletes_fine,
            binary_bytes_come_back_exactly,
            concurrent_puts_of_distinct_keys_all_land,
            a_key_cannot_climb_out_of_the_store,
        ]);
    };
}

fn key(name: &str) -> String {
    format!("contract/{name}/{}", uuid::Uuid::new_v4())
}

pub async fn put_get_overwrite_and_delete(s: &dyn ObjectStore) {
    let k = key("basic");
    s.put(&k, b"first".to_vec()).await.unwrap();
    assert_eq!(s.get(&k).await.unwrap().as_deref(), Some(&b"first"[..]));
    s.put(&k, b"second".to_vec()).await.unwrap();
    assert_eq!(
        s.get(&k).await.unwrap().as_deref(),
        Some(&b"second"[..]),
        "put replaces"
    );
    s.delete(&k).await.unwrap();
    assert_eq!(s.get(&k).await.unwrap(), None, "delete removes");
}

pub async fn a_missing_object_reads_as_none_and_deletes_fine(s: &dyn ObjectStore) {
    let k = key("missing");
    assert_eq!(s.get(&k).await.unwrap(), None);
    s.delete(&k).await.unwrap();
}

pub async fn binary_bytes_come_back_exactly(s: &dyn ObjectStore) {
    let k = key("binary");
    let bytes: Vec<u8> = (0..=255u8).cycle().take(3 * 1024 * 1024 + 7).collect();
    s.put(&k, bytes.clone()).await.unwrap();
    assert_eq!(s.get(&k).await.unwrap(), Some(bytes));
}

pub async fn concurrent_puts_of_distinct_keys_all_land(s: &dyn ObjectStore) {
    let keys: Vec<String> = (0..20).map(|i| key(&format!("many-{i}"))).collect();
    futures::future::join_all(
        keys.iter()
            .enumerate()
            .map(|(i, k)| s.put(k, vec![i as u8; 100])),
    )
    .await
    .into_iter()
    .for_each(|r| r.unwrap());
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(s.get(k).await.unwrap(), Some(vec![i as u8; 100]));
    }
}

pub async fn a_key_cannot_climb_out_of_the_store(s: &dyn ObjectStore) {
    assert!(s.put("../outside", b"x".to_vec()).await.is_err());
    assert!(s.get("a/../../etc/passwd").await.is_err());
}
