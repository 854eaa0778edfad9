//! One runner per batch job across instances: the kernel's lease row (`kernel::lease`)
//! in `billing_leases`, renewed by the holder after every chunk, given back at the end.

use sea_orm::{DatabaseConnection, DbErr};
use surge_kernel::{lease, Millis};

const TABLE: &str = "billing_leases";

/// Takes or renews `name` for `holder` until `now + ttl_ms`; `true` if `holder` has it now.
pub(crate) async fn take(
    db: &DatabaseConnection,
    name: &str,
    holder: &str,
    now: Millis,
    ttl_ms: i64,
) -> Result<bool, DbErr> {
    lease::take(db, TABLE, name, holder, now, ttl_ms).await
}

/// Gives the lease back (only if `holder` still has it), so the next run may start now.
pub(crate) async fn release(
    db: &DatabaseConnection,
    name: &str,
    holder: &str,
) -> Result<(), DbErr> {
    lease::release(db, TABLE, name, holder).await
}

/// Who holds `name` and until when, if anyone does.
pub(crate) async fn holder(
    db: &DatabaseConnection,
    name: &str,
) -> Result<Option<(String, Millis)>, DbErr> {
    lease::holder(db, TABLE, name).await
}
