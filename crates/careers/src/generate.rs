//! `surge careers generate --count N`: bulk-loads synthetic postings ([`crate::samples`])
//! for the search benchmark. Multi-row inserts of 500 postings (and their skills) per
//! transaction and no events: 100,000 postings take seconds, where 100,000 single
//! creates would each commit and each index one document. Rebuild the index afterwards
//! (the command does). Posting `n` has a fixed id, so running it again adds only the
//! postings not there yet.

use std::collections::HashSet;
use std::sync::Arc;

use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect, Set, TransactionTrait};
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
        let mut added = 0;
        let mut start = 0;
        while start < count {
            let end = (start + BATCH).min(count);
            let ids: Vec<Uuid> = (start..end).map(generated_id).collect();
            let existing: HashSet<Uuid> = posting::Entity::find()
                .select_only()
                .column(posting::Column::Id)
                .filter(posting::Column::Id.is_in(ids.iter().copied()))
                .into_tuple()
                .all(&self.deps.db)
                .await?
                .into_iter()
                .collect();
            let mut rows = Vec::new();
            let mut skills = Vec::new();
            for n in start..end {
                let id = generated_id(n);
                if existing.contains(&id) {
                    continue;
                }
                let p = samples::posting(n, now);
                for key in p.skills.keys() {
                    skills.push(posting_skill::ActiveModel {
                        posting_id: Set(id),
                        skill: Set(key),
                    });
                }
                rows.push(new_row(id, SOURCE, n.to_string(), p, now));
            }
            if !rows.is_empty() {
                added += rows.len() as u64;
                let txn = self.deps.db.begin().await?;
                posting::Entity::insert_many(rows).exec(&txn).await?;
                // 4 skills a posting at most: 2,000 rows x 2 columns.
                if !skills.is_empty() {
                    posting_skill::Entity::insert_many(skills)
                        .exec(&txn)
                        .await?;
                }
                txn.commit().await?;
            }
            start = end;
            progress(start);
        }
        Ok(added)
    }
}
