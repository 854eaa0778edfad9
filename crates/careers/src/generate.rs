//! `surge careers generate --count N`: bulk-loads synthetic postings ([`crate::samples`])
//! for the search benchmark. Multi-row inserts of 500 postings (and their skills) per
//! transaction and no events: 100,000 postings take seconds, where 100,000 single
//! creates would each commit and each index one document. Rebuild the index afterwards
//! (the command does). Posting `n` has a fixed id, so running it again adds only the
//! postings not there yet.

use std::sync::Arc;

use sea_orm::{EntityTrait, Set, TransactionTrait};
use surge_kernel::sql::add_missing;
use surge_kernel::ApiError;
use uuid::Uuid;

use crate::deps::Deps;
use crate::entities::{posting, posting_skill};
use crate::postings::new_row;
use crate::samples;

/// Postings per transaction: 22 columns x 500 rows stays under every backend's limit
/// on bound parameters (SQLite's 32,766 the lowest).
const BATCH: u64 = 500;

/// The source of generated postings (their `source_id` is the sample number).
pub const SOURCE: &str = "generated";

pub struct Generator {
    deps: Arc<Deps>,
}

/// The fixed id of generated posting `n`.
pub fn generated_id(n: u64) -> Uuid {
    // "SurgeGen" in the high half: recognisable, never a v7 id of a real posting.
    Uuid::from_u128((0x5375_7267_6547_656e_u128 << 64) | u128::from(n))
}

impl Generator {
    pub(crate) fn new(deps: Arc<Deps>) -> Self {
        Self { deps }
    }

    /// Adds generated postings `0..count` that are not there yet; `progress` hears the
    /// number done after each batch. Returns how many it added.
    #[tracing::instrument(skip(self, progress))]
    pub async fn generate(&self, count: u64, progress: impl Fn(u64)) -> Result<u64, ApiError> {
        let now = self.deps.clock.now_ms();
        let db = &self.deps.db;
        let added = add_missing::<posting::Entity, _, _>(
            db,
            posting::Column::Id,
            count,
            BATCH,
            generated_id,
            progress,
            |todo| async move {
                let mut rows = Vec::new();
                let mut skills = Vec::new();
                for n in todo {
                    let id = generated_id(n);
                    let p = samples::posting(n, now);
                    for key in p.skills.keys() {
                        skills.push(posting_skill::ActiveModel {
                            posting_id: Set(id),
                            skill: Set(key),
                        });
                    }
                    rows.push(new_row(id, SOURCE, n.to_string(), p, now));
                }
                let txn = db.begin().await?;
                posting::Entity::insert_many(rows).exec(&txn).await?;
                // 4 skills a posting at most: 2,000 rows x 2 columns.
                if !skills.is_empty() {
                    posting_skill::Entity::insert_many(skills)
                        .exec(&txn)
                        .await?;
                }
                txn.commit().await
            },
        )
        .await?;
        Ok(added)
    }
}
