//! One page of a source's postings written to `careers_postings`, upserted by
//! `(source, source_id)` in one transaction: a new posting is inserted (a concurrent
//! insert of the same key loses quietly to the unique index, never a duplicate); a known
//! one is updated only when a field changed. Every change writes `careers.posting_changed`
//! in the same transaction, so the search index of every instance follows.

use std::collections::HashMap;

use sea_orm::sea_query::{Expr, Query};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait, QueryFilter,
    QueryTrait, Set,
};
use surge_kernel::jobs::{JobKind, SourcePosting};
use surge_kernel::{new_id, Millis};
use uuid::Uuid;

use crate::domain::{
    deadline_key, reminder_due_at, web_url, EmploymentType, Experience, PostingStatus, Skills,
};
use crate::entities::{posting, posting_skill};
use crate::postings::{changed, new_row, skills_json, write_skills, NewPosting};

/// What a run did so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct SyncCounts {
    /// Postings seen for the first time.
    pub new: u64,
    /// Known postings whose fields changed upstream (or that came back).
    pub updated: u64,
    /// Postings closed: gone from the source, or past their deadline.
    pub closed: u64,
    /// Items the source sent that could not be read or stored.
    pub failed: u64,
}

/// A source posting in careers' terms, cut to the columns' sizes.
#[derive(Debug, Clone)]
pub(crate) struct Normalized {
    pub source_id: String,
    pub posting: NewPosting,
}

/// The longest description kept.
const MAX_DESCRIPTION: usize = 20_000;

fn cut(s: &str, max: usize) -> String {
    let t = s.trim();
    match t.char_indices().nth(max) {
        Some((at, _)) => t[..at].trim_end().to_owned(),
        None => t.to_owned(),
    }
}

/// Fits a source posting to careers' rules, or says why it cannot be stored.
pub(crate) fn normalize(p: &SourcePosting) -> Result<Normalized, String> {
    let source_id = p.source_id.trim();
    if source_id.is_empty() || source_id.chars().count() > 100 {
        return Err("source_id must be 1..=100 characters".into());
    }
    let title = cut(&p.title, 200);
    let company = cut(&p.company, 100);
    if title.is_empty() || company.is_empty() {
        return Err("no title or company".into());
    }
    let url = web_url(&p.url).map_err(|e| e.to_string())?;
    let raw_skills: Vec<String> = p
        .skills
        .iter()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty() && s.chars().count() <= 40)
        .take(20)
        .collect();
    let skills = Skills::new(&raw_skills).map_err(|e| e.to_string())?;
    let min = p.experience_min.clamp(0, 50);
    let max = p.experience_max.map(|m| m.clamp(min, 50));
    let experience = Experience::new(min, max).map_err(|e| e.to_string())?;
    Ok(Normalized {
        source_id: source_id.to_owned(),
        posting: NewPosting {
            title,
            company,
            location: cut(&p.location, 50),
            district: cut(&p.district, 50),
            category: cut(&p.category, 50),
            skills,
            experience,
            newbie: p.newbie,
            employment_type: match p.kind {
                JobKind::FullTime => EmploymentType::FullTime,
                JobKind::Contract => EmploymentType::Contract,
                JobKind::Intern => EmploymentType::Intern,
                JobKind::PartTime => EmploymentType::PartTime,
                JobKind::Other => EmploymentType::Other,
            },
            deadline: p.deadline,
            url,
            description: cut(&p.description, MAX_DESCRIPTION),
            posted_at: p.posted_at,
        },
    })
}

/// The status a posting seen upstream has at `now`: open until its deadline.
fn status_at(deadline: Option<Millis>, now: Millis) -> PostingStatus {
    if deadline_key(deadline) > now {
        PostingStatus::Open
    } else {
        PostingStatus::Closed
    }
}

/// Whether the stored row already says what the source says.
fn same(row: &posting::Model, n: &Normalized, status: PostingStatus) -> bool {
    row.title == n.posting.title
        && row.company == n.posting.company
        && row.location == n.posting.location
        && row.district == n.posting.district
        && row.category == n.posting.category
        && row.skills == skills_json(&n.posting.skills)
        && row.experience_min == n.posting.experience.min
        && row.experience_max == n.posting.experience.max
        && row.newbie == n.posting.newbie
        && row.employment_type == n.posting.employment_type
        && row.deadline == n.posting.deadline
        && row.url == n.posting.url
        && row.description == n.posting.description
        && row.status == status
}

/// Writes one page of `source`'s postings in `txn`; adds what it did to `counts`.
pub(crate) async fn upsert_page(
    txn: &DatabaseTransaction,
    source: &str,
    page: &[Normalized],
    now: Millis,
    counts: &mut SyncCounts,
) -> anyhow::Result<()> {
    if page.is_empty() {
        return Ok(());
    }
    let ids: Vec<&str> = page.iter().map(|n| n.source_id.as_str()).collect();
    let known: HashMap<String, posting::Model> = posting::Entity::find()
        .filter(posting::Column::Source.eq(source))
        .filter(posting::Column::SourceId.is_in(ids))
        .all(txn)
        .await?
        .into_iter()
        .map(|r| (r.source_id.clone(), r))
        .collect();
    for n in page {
        let status = status_at(n.posting.deadline, now);
        match known.get(&n.source_id) {
            None => {
                if insert(txn, source, n, status, now).await? {
                    counts.new += 1;
                }
            }
            Some(row) if same(row, n, status) => {}
            Some(row) => {
                if row.status == PostingStatus::Open && status == PostingStatus::Closed {
                    counts.closed += 1;
                } else {
                    counts.updated += 1;
                }
                update(txn, row.clone(), n, status, now).await?;
            }
        }
    }
    Ok(())
}

/// Inserts unless the key exists (`false` then: another writer got there first).
async fn insert(
    txn: &DatabaseTransaction,
    source: &str,
    n: &Normalized,
    status: PostingStatus,
    now: Millis,
) -> anyhow::Result<bool> {
    let id = new_id();
    let mut row = new_row(id, source, n.source_id.clone(), n.posting.clone(), now);
    row.status = Set(status);
    let stmt = posting::Entity::insert(row).into_query();
    if !surge_kernel::sql::insert_if_absent(txn, stmt, &["source", "source_id"]).await? {
        return Ok(false);
    }
    write_skills(txn, id, &n.posting.skills)
        .await
        .map_err(|e| anyhow::anyhow!("writing skills: {e}"))?;
    event(txn, id, now).await?;
    Ok(true)
}

async fn update(
    txn: &DatabaseTransaction,
    row: posting::Model,
    n: &Normalized,
    status: PostingStatus,
    now: Millis,
) -> anyhow::Result<()> {
    let id = row.id;
    let skills_changed = row.skills != skills_json(&n.posting.skills);
    let mut m: posting::ActiveModel = row.into();
    m.title = Set(n.posting.title.clone());
    m.company = Set(n.posting.company.clone());
    m.location = Set(n.posting.location.clone());
    m.district = Set(n.posting.district.clone());
    m.category = Set(n.posting.category.clone());
    m.skills = Set(skills_json(&n.posting.skills));
    m.experience_min = Set(n.posting.experience.min);
    m.experience_max = Set(n.posting.experience.max);
    m.newbie = Set(n.posting.newbie);
    m.employment_type = Set(n.posting.employment_type);
    m.deadline = Set(n.posting.deadline);
    m.deadline_key = Set(deadline_key(n.posting.deadline));
    m.remind_at = Set(n.posting.deadline.map(reminder_due_at));
    m.url = Set(n.posting.url.clone());
    m.description = Set(n.posting.description.clone());
    m.status = Set(status);
    m.updated_at = Set(now);
    m.update(txn).await?;
    if skills_changed {
        posting_skill::Entity::delete_many()
            .filter(posting_skill::Column::PostingId.eq(id))
            .exec(txn)
            .await?;
        write_skills(txn, id, &n.posting.skills)
            .await
            .map_err(|e| anyhow::anyhow!("writing skills: {e}"))?;
    }
    event(txn, id, now).await?;
    Ok(())
}

/// Closes `ids` (postings of one source) in `txn`, each with its event.
pub(crate) async fn close(
    txn: &DatabaseTransaction,
    ids: &[Uuid],
    now: Millis,
) -> anyhow::Result<u64> {
    if ids.is_empty() {
        return Ok(0);
    }
    let res = posting::Entity::update_many()
        .col_expr(posting::Column::Status, Expr::value(PostingStatus::Closed))
        .col_expr(posting::Column::UpdatedAt, Expr::value(now))
        .filter(posting::Column::Id.is_in(ids.iter().copied()))
        .filter(posting::Column::Status.eq(PostingStatus::Open))
        .exec(txn)
        .await?;
    for id in ids {
        event(txn, *id, now).await?;
    }
    Ok(res.rows_affected)
}

/// The open postings of `source`: (id, source_id, deadline_key).
pub(crate) async fn open_postings(
    conn: &impl ConnectionTrait,
    source: &str,
) -> anyhow::Result<Vec<(Uuid, String, i64)>> {
    let stmt = Query::select()
        .columns([
            posting::Column::Id,
            posting::Column::SourceId,
            posting::Column::DeadlineKey,
        ])
        .from(posting::Entity)
        .and_where(posting::Column::Source.eq(source))
        .and_where(posting::Column::Status.eq(PostingStatus::Open))
        .to_owned();
    let rows = conn
        .query_all(conn.get_database_backend().build(&stmt))
        .await?;
    rows.into_iter()
        .map(|r| {
            Ok((
                r.try_get_by_index::<Uuid>(0)?,
                r.try_get_by_index::<String>(1)?,
                r.try_get_by_index::<i64>(2)?,
            ))
        })
        .collect::<Result<_, sea_orm::DbErr>>()
        .map_err(Into::into)
}

/// [`changed`], for a run's `anyhow` errors.
async fn event(txn: &DatabaseTransaction, id: Uuid, now: Millis) -> anyhow::Result<()> {
    changed(txn, id, now)
        .await
        .map_err(|e| anyhow::anyhow!("writing posting_changed: {e}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn sample() -> SourcePosting {
        SourcePosting {
            source_id: " 42 ".into(),
            title: "  백엔드 개발자 ".into(),
            company: "당근".into(),
            location: "서울".into(),
            district: "서초구".into(),
            category: "backend".into(),
            skills: vec!["Rust".into(), "rust".into(), "x".repeat(41), String::new()],
            experience_min: -3,
            experience_max: Some(80),
            newbie: false,
            kind: JobKind::Intern,
            deadline: None,
            url: "https://example.com/1".into(),
            description: "설명".repeat(20_000),
            posted_at: None,
        }
    }

    #[test]
    fn source_postings_are_fitted_to_the_columns() {
        let n = normalize(&sample()).unwrap();
        assert_eq!(n.source_id, "42");
        assert_eq!(n.posting.title, "백엔드 개발자");
        assert_eq!(n.posting.skills.as_slice(), ["Rust"]);
        assert_eq!(
            n.posting.experience,
            Experience {
                min: 0,
                max: Some(50)
            }
        );
        assert_eq!(n.posting.employment_type, EmploymentType::Intern);
        assert_eq!(n.posting.description.chars().count(), MAX_DESCRIPTION);
        let mut bad = sample();
        bad.url = "javascript:alert(1)".into();
        assert!(normalize(&bad).is_err());
        bad = sample();
        bad.title = " ".into();
        assert!(normalize(&bad).is_err());
    }

    #[test]
    fn a_posting_closes_at_its_deadline() {
        assert_eq!(status_at(None, 5), PostingStatus::Open);
        assert_eq!(status_at(Some(10), 5), PostingStatus::Open);
        assert_eq!(status_at(Some(5), 5), PostingStatus::Closed);
    }
}
