//! Which orders of a batch are retries: the Idempotency-Keys a product's task has been
//! sent before, and the lookup of stored orders by (buyer, key).

use std::collections::{HashMap, HashSet};

use sea_orm::{ColumnTrait, Condition, ConnectionTrait, DbErr, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::entities::order;

/// How many (user, Idempotency-Key) pairs a product's task remembers (see [`Seen`]).
const SEEN_MAX: usize = 200_000;
/// Pairs per lookup query when checking keys against stored orders.
const CHECK_CHUNK: usize = 100;

/// The (user, Idempotency-Key) pairs this product's task has already been sent. Only
/// those can be retries of an order that exists, so only those are looked up before
/// the batch writes: a fresh key (nearly every order) costs no query. A retry this
/// task has not seen (it went to another instance, or was forgotten when the set was
/// full) still cannot make a second order: the unique index refuses it, and the batch
/// is run again checking every key.
#[derive(Default)]
pub(super) struct Seen(HashSet<(Uuid, String)>);

impl Seen {
    /// Which of these (buyer, key) pairs must be checked; remembers all of them.
    pub(super) fn check<'a>(
        &mut self,
        keys: impl ExactSizeIterator<Item = Option<(Uuid, &'a str)>>,
    ) -> Vec<bool> {
        if self.0.len() + keys.len() > SEEN_MAX {
            self.0.clear();
        }
        keys.map(|key| match key {
            Some((user, k)) => !self.0.insert((user, k.to_owned())),
            None => false,
        })
        .collect()
    }
}

/// The stored orders of these (buyer, Idempotency-Key) pairs.
pub(super) async fn stored_orders<'a>(
    conn: &impl ConnectionTrait,
    keys: impl Iterator<Item = (Uuid, &'a str)>,
) -> Result<HashMap<(Uuid, String), order::Model>, DbErr> {
    let keyed: Vec<(Uuid, &str)> = keys.collect();
    let mut existing = HashMap::new();
    // One (user_id = ? AND idem_key = ?) per key, ORed: each is a probe of the unique
    // index on every database (`user_id IN (..) AND idem_key IN (..)` is not: PostgreSQL
    // answered it with a scan of all orders).
    for chunk in keyed.chunks(CHECK_CHUNK) {
        let any = chunk.iter().fold(Condition::any(), |c, (u, k)| {
            c.add(
                order::Column::UserId
                    .eq(*u)
                    .and(order::Column::IdemKey.eq(*k)),
            )
        });
        for o in order::Entity::find().filter(any).all(conn).await? {
            if let Some(k) = o.idem_key.clone() {
                existing.insert((o.user_id, k), o);
            }
        }
    }
    Ok(existing)
}
