//! Tech news from configured RSS/Atom feeds (`[careers.feeds.<name>]`): each feed is
//! fetched on its schedule (or by an admin) with a conditional GET, by one runner at a
//! time across instances (the job sources' lease and runs, under the feed's name), its
//! items upserted by `(feed, guid)` and linked to the companies of postings they name.
//! `GET /news?q=&company=` lists them, newest first.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use sea_orm::{
    ActiveModelTrait, ColumnTrait, Condition, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, QuerySelect, QueryTrait, Set, TransactionTrait,
};
use serde::Serialize;
use surge_kernel::news::{FeedFetch, FeedValidators, NewsItem, NewsSource};
use surge_kernel::page::{invalid_cursor, Page, PageQuery};
use surge_kernel::{new_id, rfc3339, ApiError, Millis};
use uuid::Uuid;

use super::run::{finish, start, Renewal};
use super::upsert::SyncCounts;
use super::SyncRunView;
use crate::deps::Deps;
use crate::domain::{source_name, SyncTrigger};
use crate::entities::{feed_state, news_item, posting};

/// A feed the server built from configuration.
#[derive(Clone)]
pub struct ConfiguredFeed {
    /// Its name (shared namespace with the job sources: runs and leases use it).
    pub name: String,
    pub source: Arc<dyn NewsSource>,
    pub every: Option<Duration>,
}

impl std::fmt::Debug for ConfiguredFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConfiguredFeed")
            .field("name", &self.name)
            .field("every", &self.every)
            .finish()
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct NewsView {
    pub id: Uuid,
    pub feed: String,
    pub title: String,
    pub url: String,
    pub summary: String,
    pub published_at: String,
    /// Companies with postings here that the item names.
    pub companies: Vec<String>,
}

/// What a news list is filtered by.
#[derive(Debug, Clone, Default)]
pub struct NewsFilter {
    /// Words that must all appear in the title or summary.
    pub q: Option<String>,
    pub company: Option<String>,
}

pub struct News {
    deps: Arc<Deps>,
    feeds: HashMap<String, ConfiguredFeed>,
}

/// Company names shorter than this are not matched in text (too many false hits).
const MIN_COMPANY_CHARS: usize = 2;

fn cut(s: &str, max: usize) -> String {
    let t = s.trim();
    t.char_indices()
        .nth(max)
        .map_or_else(|| t.to_owned(), |(at, _)| t[..at].to_owned())
}

impl News {
    pub(crate) fn new(deps: Arc<Deps>, list: Vec<ConfiguredFeed>) -> anyhow::Result<Self> {
        let mut feeds = HashMap::new();
        for f in list {
            anyhow::ensure!(
                source_name(&f.name).is_some(),
                "feed name {:?}: 1..=20 of a-z, 0-9, - and _",
                f.name
            );
            let name = f.name.clone();
            anyhow::ensure!(
                feeds.insert(name.clone(), f).is_none(),
                "feed {name:?} is configured twice"
            );
        }
        Ok(Self { deps, feeds })
    }

    pub fn names(&self) -> Vec<String> {
        let mut v: Vec<String> = self.feeds.keys().cloned().collect();
        v.sort();
        v
    }

    fn find(&self, name: &str) -> Result<&ConfiguredFeed, ApiError> {
        self.feeds.get(name).ok_or_else(|| {
            ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                "unknown_feed",
                format!("no news feed named {name:?} is configured"),
            )
        })
    }

    /// Fetches a feed now, to the end; 404 `unknown_feed`, 409 `sync_in_progress`.
    #[tracing::instrument(skip(self))]
    pub async fn refresh(&self, name: &str, trigger: SyncTrigger) -> Result<SyncRunView, ApiError> {
        let feed = self.find(name)?.source.clone();
        self.run(name, feed.as_ref(), trigger).await
    }

    /// Stores the items of a source that is not configured (the demo's sample items)
    /// under the feed name `name`: the same lease, run and upsert as a configured feed's.
    pub async fn import(
        &self,
        name: &str,
        source: &dyn NewsSource,
    ) -> Result<SyncRunView, ApiError> {
        if source_name(name).is_none() || self.feeds.contains_key(name) {
            return Err(ApiError::internal(anyhow::anyhow!(
                "news import {name:?}: a free feed name of 1..=20 of a-z, 0-9, - and _"
            )));
        }
        self.run(name, source, SyncTrigger::Cli).await
    }

    async fn run(
        &self,
        name: &str,
        feed: &dyn NewsSource,
        trigger: SyncTrigger,
    ) -> Result<SyncRunView, ApiError> {
        let run = start(&self.deps, name, trigger).await?;
        let renewal = Renewal::spawn(
            self.deps.db.clone(),
            self.deps.clock.clone(),
            name.to_owned(),
            run.holder.clone(),
        );
        let mut counts = SyncCounts::default();
        let outcome = self.fetch_and_store(name, feed, &mut counts).await;
        let outcome = match outcome {
            Ok(()) if renewal.lost() => Err(anyhow::anyhow!(
                "the lease was lost (another runner took over)"
            )),
            other => other,
        };
        drop(renewal);
        Ok(finish(&self.deps, &run, &counts, outcome).await?.into())
    }

    async fn fetch_and_store(
        &self,
        name: &str,
        feed: &dyn NewsSource,
        counts: &mut SyncCounts,
    ) -> anyhow::Result<()> {
        let db = &self.deps.db;
        let state = feed_state::Entity::find_by_id(name.to_owned())
            .one(db)
            .await?;
        let since = state
            .as_ref()
            .map(|s| FeedValidators {
                etag: s.etag.clone(),
                last_modified: s.last_modified.clone(),
            })
            .unwrap_or_default();
        let (items, validators) = match feed.fetch(&since).await? {
            FeedFetch::NotModified => return Ok(()),
            FeedFetch::Fetched { items, validators } => (items, validators),
        };
        let companies = self.companies().await?;
        let now = self.deps.clock.now_ms();
        let known: HashMap<String, news_item::Model> = news_item::Entity::find()
            .filter(news_item::Column::Feed.eq(name))
            .filter(news_item::Column::Guid.is_in(items.iter().map(|i| cut(&i.guid, 300))))
            .all(db)
            .await?
            .into_iter()
            .map(|r| (r.guid.clone(), r))
            .collect();
        let txn = db.begin().await?;
        for item in &items {
            let Some(row) = self.row(name, item, &companies, now) else {
                counts.failed += 1;
                continue;
            };
            match known.get(&row.guid) {
                None => {
                    let stmt = news_item::Entity::insert(row.into_active_model()).into_query();
                    if surge_kernel::sql::insert_if_absent(&txn, stmt, &["feed", "guid"]).await? {
                        counts.new += 1;
                    }
                }
                Some(old)
                    if old.title == row.title
                        && old.summary == row.summary
                        && old.url == row.url
                        && old.companies == row.companies => {}
                Some(old) => {
                    let mut m: news_item::ActiveModel = old.clone().into();
                    m.title = Set(row.title);
                    m.url = Set(row.url);
                    m.summary = Set(row.summary);
                    m.companies = Set(row.companies);
                    m.search_text = Set(row.search_text);
                    m.updated_at = Set(now);
                    m.update(&txn).await?;
                    counts.updated += 1;
                }
            }
        }
        let saved = feed_state::ActiveModel {
            name: Set(name.to_owned()),
            etag: Set(validators.etag.map(|e| cut(&e, 300))),
            last_modified: Set(validators.last_modified.map(|m| cut(&m, 100))),
            fetched_at: Set(now),
        };
        if state.is_some() {
            saved.update(&txn).await?;
        } else {
            saved.insert(&txn).await?;
        }
        txn.commit().await?;
        Ok(())
    }

    /// The companies that have postings, for linking items to them.
    async fn companies(&self) -> anyhow::Result<Vec<String>> {
        let names: Vec<String> = posting::Entity::find()
            .select_only()
            .column(posting::Column::Company)
            .distinct()
            .limit(10_000)
            .into_tuple()
            .all(&self.deps.read_db)
            .await?;
        Ok(names
            .into_iter()
            .filter(|n| n.trim().chars().count() >= MIN_COMPANY_CHARS)
            .collect())
    }

    fn row(
        &self,
        feed: &str,
        item: &NewsItem,
        companies: &[String],
        now: Millis,
    ) -> Option<news_item::Model> {
        let url = crate::domain::web_url(&item.url).ok()?;
        let guid = cut(&item.guid, 300);
        let title = cut(&item.title, 300);
        if guid.is_empty() || title.is_empty() {
            return None;
        }
        let summary = cut(&item.summary, 5_000);
        let text = format!("{title}\n{summary}");
        let named: Vec<&str> = companies
            .iter()
            .map(String::as_str)
            .filter(|c| text.contains(c.trim()))
            .collect();
        let mut tags = format!("|{}|", named.join("|"));
        if tags.chars().count() > 500 {
            tags = "||".into();
        }
        Some(news_item::Model {
            id: new_id(),
            feed: feed.to_owned(),
            guid,
            title,
            url,
            summary,
            published_at: item.published_at.unwrap_or(now),
            companies: tags,
            search_text: text.to_lowercase(),
            created_at: now,
            updated_at: now,
        })
    }

    /// News, newest first: items having every word of `q`, naming `company`.
    pub async fn list(&self, f: &NewsFilter, page: &PageQuery) -> Result<Page<NewsView>, ApiError> {
        let limit = page.limit()?;
        let mut q = news_item::Entity::find();
        for word in
            f.q.as_deref()
                .unwrap_or_default()
                .split_whitespace()
                .take(10)
        {
            q = q.filter(news_item::Column::SearchText.contains(word.to_lowercase()));
        }
        if let Some(c) = f
            .company
            .as_deref()
            .map(str::trim)
            .filter(|c| !c.is_empty())
        {
            q = q.filter(news_item::Column::Companies.contains(format!("|{c}|")));
        }
        if let Some(c) = page.cursor()? {
            let (at, id) = c.split_once('|').ok_or_else(invalid_cursor)?;
            let at: i64 = at.parse().map_err(|_| invalid_cursor())?;
            let id: Uuid = id.parse().map_err(|_| invalid_cursor())?;
            q = q.filter(
                Condition::any()
                    .add(news_item::Column::PublishedAt.lt(at))
                    .add(
                        Condition::all()
                            .add(news_item::Column::PublishedAt.eq(at))
                            .add(news_item::Column::Id.lt(id)),
                    ),
            );
        }
        let rows = q
            .order_by_desc(news_item::Column::PublishedAt)
            .order_by_desc(news_item::Column::Id)
            .limit(limit + 1)
            .all(&self.deps.read_db)
            .await?;
        let page = Page::from_rows(rows, limit, |r| format!("{}|{}", r.published_at, r.id));
        Ok(Page {
            items: page
                .items
                .into_iter()
                .map(|r| NewsView {
                    id: r.id,
                    feed: r.feed,
                    title: r.title,
                    url: r.url,
                    summary: r.summary,
                    published_at: rfc3339(r.published_at),
                    companies: r
                        .companies
                        .split('|')
                        .filter(|c| !c.is_empty())
                        .map(str::to_owned)
                        .collect(),
                })
                .collect(),
            next_cursor: page.next_cursor,
        })
    }

    /// A feed's schedule, as the job sources' (`Sources::keep_synced`).
    pub async fn keep_fresh(self: Arc<Self>, name: String) {
        let Some(every) = self.feeds.get(&name).and_then(|f| f.every) else {
            return;
        };
        let poll = every
            .min(Duration::from_secs(30))
            .max(Duration::from_millis(200));
        loop {
            let last = crate::entities::sync_run::Entity::find()
                .filter(crate::entities::sync_run::Column::Source.eq(name.as_str()))
                .order_by_desc(crate::entities::sync_run::Column::StartedAt)
                .one(&self.deps.db)
                .await;
            let due = match last {
                Ok(None) => true,
                Ok(Some(r)) => r.started_at + every.as_millis() as i64 <= self.deps.clock.now_ms(),
                Err(e) => {
                    tracing::warn!(feed = %name, error = %e, "reading the last news run failed");
                    false
                }
            };
            if due {
                match self.refresh(&name, SyncTrigger::Schedule).await {
                    Ok(_) => {}
                    Err(e) if e.code == "sync_in_progress" => {}
                    Err(e) => {
                        tracing::warn!(feed = %name, error = %e, "scheduled news fetch failed to start")
                    }
                }
            }
            tokio::time::sleep(poll).await;
        }
    }
}
