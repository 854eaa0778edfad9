//! Full-text search of postings: an embedded tantivy index under the data dir, one per
//! instance, fed by `careers.posting_changed` (each instance consumes every change under
//! a consumer name of its own) and rebuilt from the database when it is missing or its
//! schema version changed. The index answers which postings match (words and filters),
//! in which order, how many, and the facet counts, from its columns; only the page's
//! postings are read from the database, which stays the source of truth for what is
//! shown: a posting that no longer passes the filters (closed a moment ago) is left off
//! the page at once, while the total and facets follow within the index's delay. The
//! index's answers are kept per request for the index generation they came from, so a
//! repeated search (the popular words) costs a lookup and the page's rows.

pub mod analyzer;
mod facets;
pub(crate) mod feed;
mod filters;
mod results;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;

use sea_orm::{ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect};
use surge_kernel::page::PageQuery;
use surge_kernel::{ApiError, Millis};
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{AllQuery, BooleanQuery, BoostQuery, FuzzyTermQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, FAST, STRING,
};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{
    DocAddress, Index, IndexReader, IndexWriter, Order, ReloadPolicy, Searcher, SegmentReader,
    TantivyDocument, Term,
};
use tokio::sync::{Mutex, OnceCell};
use uuid::Uuid;

use facets::FacetCounter;
use filters::Filters;
use results::{answer_key, ids_of, internal, page_of, Found, Snippets, ID_HI, ID_LO};
pub use results::{FacetCount, Facets, Highlights, PostingHit, PostingResults};

use crate::deps::Deps;
use crate::domain::{skill_key, PostingSort, PostingStatus};
use crate::entities::posting;
use crate::postings::{passes, to_view, PostingListing};

/// Bump when the schema or the analyzer changes: every instance then rebuilds its index
/// from the database at start.
pub const SCHEMA_VERSION: u32 = 3;
const VERSION_FILE: &str = "surge-schema-version";
/// Postings re-read at start past the last change the index saw (clock skew, events
/// published while this instance was down).
const CATCH_UP_MARGIN_MS: i64 = 5 * 60_000;

/// The text fields searched and how much a match in each weighs.
const WEIGHTS: [(&str, f32); 6] = [
    ("title", 3.0),
    ("skills", 2.0),
    ("company", 1.5),
    ("category", 1.5),
    ("location", 1.5),
    ("description", 1.0),
];

struct Fields {
    /// The id as a term (to replace or delete a posting's document).
    id: Field,
    id_hi: Field,
    id_lo: Field,
    text: Vec<(Field, f32)>,
    title: Field,
    description: Field,
    filters: Filters,
}

impl Fields {
    fn schema() -> (Schema, Fields) {
        let mut b = Schema::builder();
        let id = b.add_text_field("id", STRING);
        let id_hi = b.add_u64_field(ID_HI, FAST);
        let id_lo = b.add_u64_field(ID_LO, FAST);
        let opts = TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer(analyzer::NAME)
                .set_index_option(IndexRecordOption::WithFreqs),
        );
        let text: Vec<(Field, f32)> = WEIGHTS
            .iter()
            .map(|(name, w)| (b.add_text_field(name, opts.clone()), *w))
            .collect();
        let title = text[0].0;
        let description = text[5].0;
        let filters = Filters::add_to(&mut b);
        (
            b.build(),
            Fields {
                id,
                id_hi,
                id_lo,
                text,
                title,
                description,
                filters,
            },
        )
    }
}

pub struct Search {
    deps: Arc<Deps>,
    dir: PathBuf,
    index: Index,
    reader: IndexReader,
    writer: Mutex<IndexWriter>,
    fields: Fields,
    /// Built from the database (or caught up) once, before the first query or event.
    ready: OnceCell<()>,
    build: bool,
    /// The newest `updated_at` among followed changes written but not yet committed.
    staged: AtomicI64,
    /// A commit of the followed changes is due (one task waits for it: `feed.rs`).
    flush_due: AtomicBool,
    /// Recent answers of the index (the page's ids, total, facets) by request and index
    /// generation: a repeated search costs a lookup; any commit starts a new generation.
    answers: moka::future::Cache<String, Arc<Found>>,
}

impl Search {
    /// Opens the index in `dir`, or creates an empty one (built from the database before
    /// first use) when it is missing, unreadable or of another schema version.
    pub(crate) fn open(dir: &Path, deps: Arc<Deps>) -> anyhow::Result<Self> {
        let (schema, fields) = Fields::schema();
        let version = std::fs::read_to_string(dir.join(VERSION_FILE)).ok();
        let current = version.as_deref().map(str::trim) == Some(&SCHEMA_VERSION.to_string());
        let opened = if current {
            Index::open_in_dir(dir).ok()
        } else {
            None
        };
        let (index, build) = match opened {
            Some(i) => (i, false),
            None => {
                if dir.exists() {
                    std::fs::remove_dir_all(dir)?;
                }
                std::fs::create_dir_all(dir)?;
                (Index::create_in_dir(dir, schema)?, true)
            }
        };
        index
            .tokenizers()
            .register(analyzer::NAME, TextAnalyzer::from(analyzer::KoBigram));
        // One writer per directory: two instances must not share a data dir.
        let writer = index.writer_with_num_threads(1, 20_000_000).map_err(|e| {
            anyhow::anyhow!(
                "opening the careers search index in {} (each instance needs a data dir of its own): {e}",
                dir.display()
            )
        })?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(Self {
            deps,
            dir: dir.to_owned(),
            index,
            reader,
            writer: Mutex::new(writer),
            fields,
            ready: OnceCell::new(),
            build,
            staged: AtomicI64::new(0),
            flush_due: AtomicBool::new(false),
            answers: moka::future::Cache::builder()
                .max_capacity(20_000)
                .time_to_live(std::time::Duration::from_secs(60))
                .build(),
        })
    }

    /// Builds the index from the database if it was missing, else re-reads the postings
    /// changed since the last change it saw. Runs once; later calls wait for it.
    pub async fn ready(&self) -> Result<(), ApiError> {
        self.ready
            .get_or_try_init(|| async {
                if self.build {
                    self.rebuild().await.map(|_| ())
                } else {
                    self.catch_up().await
                }
            })
            .await
            .map(|_| ())
    }

    /// Runs [`Search::ready`] at start, so the first search does not wait for a build.
    pub(crate) async fn warm(self: Arc<Self>) {
        if let Err(e) = self.ready().await {
            tracing::warn!(error = ?e, "building the careers search index failed; the first search retries");
        }
        std::future::pending::<()>().await;
    }

    /// Replaces every document with the postings in the database (`surge careers
    /// reindex`, a missing index). Returns how many postings it indexed.
    pub async fn rebuild(&self) -> Result<u64, ApiError> {
        self.rebuild_with(|_, _| {}).await
    }

    /// [`Search::rebuild`], calling `progress(indexed, total)` after every 500 postings
    /// (`total`: the postings counted at the start; a posting added meanwhile is indexed too).
    #[tracing::instrument(skip(self, progress), fields(dir = %self.dir.display()))]
    pub async fn rebuild_with(&self, progress: impl Fn(u64, u64)) -> Result<u64, ApiError> {
        let mut w = self.writer.lock().await;
        let total = posting::Entity::find().count(&self.deps.db).await?;
        // Followed changes not yet committed would survive `delete_all_documents` (it
        // drops committed segments only) and be doubled: the database has them anyway.
        w.rollback().map_err(internal)?;
        w.delete_all_documents().map_err(internal)?;
        let mut last: Option<Uuid> = None;
        let mut count = 0u64;
        let mut watermark = 0;
        loop {
            let mut q = posting::Entity::find().order_by_asc(posting::Column::Id);
            if let Some(l) = last {
                q = q.filter(posting::Column::Id.gt(l));
            }
            let rows = q.limit(500).all(&self.deps.db).await?;
            let Some(r) = rows.last() else { break };
            last = Some(r.id);
            for p in &rows {
                watermark = watermark.max(p.updated_at);
                w.add_document(self.document(p)).map_err(internal)?;
                count += 1;
            }
            progress(count, total.max(count));
        }
        self.commit(&mut w, watermark).await?;
        std::fs::write(self.dir.join(VERSION_FILE), SCHEMA_VERSION.to_string())
            .map_err(internal)?;
        tracing::info!(count, "careers search index built");
        Ok(count)
    }

    async fn catch_up(&self) -> Result<(), ApiError> {
        let since = self.watermark()? - CATCH_UP_MARGIN_MS;
        let ids: Vec<Uuid> = posting::Entity::find()
            .select_only()
            .column(posting::Column::Id)
            .filter(posting::Column::UpdatedAt.gte(since))
            .into_tuple()
            .all(&self.deps.db)
            .await?;
        for chunk in ids.chunks(500) {
            self.reindex(chunk).await?;
        }
        Ok(())
    }

    /// The newest `updated_at` the index has seen (stored with each commit).
    fn watermark(&self) -> Result<Millis, ApiError> {
        let metas = self.index.load_metas().map_err(internal)?;
        Ok(metas.payload.and_then(|p| p.parse().ok()).unwrap_or(0))
    }

    /// Commits everything written (followed changes too) with the newest `updated_at`
    /// seen as the watermark, and shows it to searches.
    async fn commit(&self, w: &mut IndexWriter, seen: Millis) -> Result<(), ApiError> {
        let staged = self.staged.swap(0, Ordering::SeqCst);
        let watermark = self.watermark()?.max(seen).max(staged);
        let mut prepared = w.prepare_commit().map_err(internal)?;
        prepared.set_payload(&watermark.to_string());
        prepared.commit().map_err(internal)?;
        self.reader.reload().map_err(internal)?;
        Ok(())
    }

    /// Re-reads these postings from the database and replaces their documents (a posting
    /// that is gone is removed), in one commit.
    #[tracing::instrument(skip(self), fields(postings = ids.len()))]
    pub async fn reindex(&self, ids: &[Uuid]) -> Result<(), ApiError> {
        let mut w = self.writer.lock().await;
        let seen = self.stage(&mut w, ids).await?;
        self.commit(&mut w, seen).await
    }

    /// Replaces these postings' documents in the writer (committed later): the newest
    /// `updated_at` among them.
    async fn stage(&self, w: &mut IndexWriter, ids: &[Uuid]) -> Result<Millis, ApiError> {
        // Read under the writer's lock: of two concurrent updates, the later read is
        // written last.
        let rows = posting::Entity::find()
            .filter(posting::Column::Id.is_in(ids.iter().copied()))
            .all(&self.deps.db)
            .await?;
        let mut seen = 0;
        for id in ids {
            w.delete_term(Term::from_field_text(self.fields.id, &id.to_string()));
        }
        for p in &rows {
            seen = p.updated_at.max(seen);
            w.add_document(self.document(p)).map_err(internal)?;
        }
        Ok(seen)
    }

    fn document(&self, p: &posting::Model) -> TantivyDocument {
        let skills: Vec<String> = serde_json::from_str(&p.skills).unwrap_or_else(|e| {
            tracing::warn!(posting_id = %p.id, error = %e, "stored posting skills do not parse; indexed without them");
            Vec::new()
        });
        let values = [
            p.title.clone(),
            skills.join(" "),
            p.company.clone(),
            p.category.clone(),
            format!("{} {}", p.location, p.district),
            p.description.clone(),
        ];
        let mut doc = TantivyDocument::default();
        doc.add_text(self.fields.id, p.id.to_string());
        let (hi, lo) = p.id.as_u64_pair();
        doc.add_u64(self.fields.id_hi, hi);
        doc.add_u64(self.fields.id_lo, lo);
        let f = &self.fields.filters;
        doc.add_text(f.category, &p.category);
        doc.add_text(f.location, &p.location);
        for s in &skills {
            doc.add_text(f.skill_name, s);
            doc.add_text(f.skill_key, skill_key(s));
        }
        doc.add_bool(f.newbie, p.newbie);
        doc.add_bool(f.open, p.status == PostingStatus::Open);
        doc.add_i64(f.experience_min, i64::from(p.experience_min));
        doc.add_i64(
            f.experience_max,
            p.experience_max.map_or(i64::MAX, i64::from),
        );
        doc.add_i64(f.deadline_key, p.deadline_key);
        doc.add_i64(f.posted_at, p.posted_at);
        for ((field, _), v) in self.fields.text.iter().zip(values) {
            doc.add_text(*field, v);
        }
        doc
    }

    /// Every word of `q` (`Occur::Must`) or any of them (`Occur::Should`); a word matches
    /// itself or one of its bigrams in any field. A Latin word of 5+ letters that is in
    /// no field's dictionary (a typo: `kubernets`) matches words one edit away instead;
    /// a known word does not (walking every dictionary for its neighbours was a fifth
    /// of a search's time, and it is spelled right).
    fn query(&self, searcher: &Searcher, q: &str, each_word: Occur) -> Option<BooleanQuery> {
        let mut words: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for (latin, pieces) in analyzer::words(q) {
            let mut any: Vec<(Occur, Box<dyn Query>)> = Vec::new();
            for (i, p) in pieces.iter().enumerate() {
                // The whole word counts more than one of its bigrams.
                let piece_weight = if i == 0 { 2.0 } else { 1.0 };
                let terms: Vec<(Term, f32)> = self
                    .fields
                    .text
                    .iter()
                    .map(|(field, w)| (Term::from_field_text(*field, &p.text), *w))
                    .collect();
                let fuzzy = latin
                    && p.text.chars().count() >= 5
                    && !terms
                        .iter()
                        .any(|(t, _)| searcher.doc_freq(t).is_ok_and(|n| n > 0));
                for (term, w) in terms {
                    if fuzzy {
                        let near = FuzzyTermQuery::new(term, 1, true);
                        any.push((Occur::Should, Box::new(BoostQuery::new(Box::new(near), w))));
                    } else {
                        let exact = TermQuery::new(term, IndexRecordOption::WithFreqs);
                        any.push((
                            Occur::Should,
                            Box::new(BoostQuery::new(Box::new(exact), w * piece_weight)),
                        ));
                    }
                }
            }
            words.push((each_word, Box::new(BooleanQuery::new(any))));
        }
        (!words.is_empty()).then(|| BooleanQuery::new(words))
    }

    /// The kept answer of `key`, if any (counted: `surge_careers_search_answers_total`
    /// by `cached`).
    async fn answered(&self, key: &str) -> Option<Arc<Found>> {
        let found = self.answers.get(key).await;
        let cached = if found.is_some() { "true" } else { "false" };
        metrics::counter!("surge_careers_search_answers_total", "cached" => cached).increment(1);
        found
    }

    /// The number of postings in the index (as of its last commit).
    pub fn indexed(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Postings matching every word of `q` (or, when none does, any of them) and `f`'s
    /// filters, in `f.sort` order, with highlights, facets over all matches and their total.
    #[tracing::instrument(skip(self, f, page))]
    pub async fn search(
        &self,
        q: &str,
        f: &PostingListing,
        page: &PageQuery,
    ) -> Result<PostingResults, ApiError> {
        let (limit, offset) = page_of(page)?;
        self.ready().await?;
        let searcher = self.reader.searcher();
        let now = self.deps.clock.now_ms();
        let key = answer_key(&searcher, f, now, offset, limit);
        let found = match self.answered(&key).await {
            Some(found) => found,
            None => {
                let (Some(every), Some(any)) = (
                    self.query(&searcher, q, Occur::Must),
                    self.query(&searcher, q, Occur::Should),
                ) else {
                    return Ok(PostingResults {
                        items: Vec::new(),
                        facets: Some(Facets::default()),
                        total: Some(0),
                        next_cursor: None,
                    });
                };
                let mut found =
                    self.find(&searcher, Box::new(every.clone()), f, now, offset, limit)?;
                let mut words = every;
                if found.total == 0 {
                    found = self.find(&searcher, Box::new(any.clone()), f, now, offset, limit)?;
                    words = any;
                }
                found.snippets = Some(Snippets::new(
                    &searcher,
                    &words,
                    self.fields.title,
                    self.fields.description,
                )?);
                let found = Arc::new(found);
                self.answers.insert(key, found.clone()).await;
                found
            }
        };
        let rows = self.page_rows(&found.ids, f, now).await?;
        let items = rows
            .into_iter()
            .map(|r| {
                let highlights = found.snippets.as_ref().map(|s| s.marks(&r));
                Ok(PostingHit {
                    posting: to_view(r)?,
                    highlights,
                })
            })
            .collect::<Result<_, ApiError>>()?;
        Ok(found.answer(items, offset, limit))
    }

    /// Postings passing `f`'s filters, without words: `recent` (also for `relevance`) or
    /// `deadline` order, with the facets and total of every one of them.
    #[tracing::instrument(skip(self, f, page))]
    pub async fn list(
        &self,
        f: &PostingListing,
        page: &PageQuery,
    ) -> Result<PostingResults, ApiError> {
        let (limit, offset) = page_of(page)?;
        self.ready().await?;
        let searcher = self.reader.searcher();
        let now = self.deps.clock.now_ms();
        let mut f = f.clone();
        if f.sort == PostingSort::Relevance {
            f.sort = PostingSort::Recent;
        }
        let key = answer_key(&searcher, &f, now, offset, limit);
        let found = match self.answered(&key).await {
            Some(found) => found,
            None => {
                let found =
                    Arc::new(self.find(&searcher, Box::new(AllQuery), &f, now, offset, limit)?);
                self.answers.insert(key, found.clone()).await;
                found
            }
        };
        let items = self
            .page_rows(&found.ids, &f, now)
            .await?
            .into_iter()
            .map(|r| {
                Ok(PostingHit {
                    posting: to_view(r)?,
                    highlights: None,
                })
            })
            .collect::<Result<_, ApiError>>()?;
        Ok(found.answer(items, offset, limit))
    }

    /// One page of the matches of `words` and `f`'s filters in `f.sort` order, with
    /// their total and facets, in one pass over the index.
    fn find(
        &self,
        searcher: &Searcher,
        words: Box<dyn Query>,
        f: &PostingListing,
        now: i64,
        offset: usize,
        limit: usize,
    ) -> Result<Found, ApiError> {
        let query = self.fields.filters.apply(words, f, now);
        let top = TopDocs::with_limit(limit.max(1)).and_offset(offset);
        let (page, total, counts): (Vec<DocAddress>, usize, _) = match f.sort {
            PostingSort::Relevance => {
                // Equal scores: the newer posting first.
                let by_score = top.tweak_score(|segment: &SegmentReader| {
                    let posted = segment.fast_fields().i64(filters::POSTED_AT).ok();
                    move |doc, score| (score, posted.as_ref().and_then(|c| c.first(doc)))
                });
                let (hits, total, counts) = searcher
                    .search(&query, &(by_score, Count, FacetCounter))
                    .map_err(internal)?;
                (hits.into_iter().map(|h| h.1).collect(), total, counts)
            }
            PostingSort::Recent | PostingSort::Deadline => {
                let (field, order) = if f.sort == PostingSort::Recent {
                    (filters::POSTED_AT, Order::Desc)
                } else {
                    (filters::DEADLINE_KEY, Order::Asc)
                };
                let ordered = top.order_by_fast_field::<i64>(field, order);
                let (hits, total, counts) = searcher
                    .search(&query, &(ordered, Count, FacetCounter))
                    .map_err(internal)?;
                (hits.into_iter().map(|h| h.1).collect(), total, counts)
            }
        };
        Ok(Found {
            ids: ids_of(searcher, &page)?,
            total: total as u64,
            facets: facets::sorted(counts),
            snippets: None,
        })
    }

    /// The page's postings from the database (or as last read, see `Deps::rows`), in
    /// the page's order; one that no longer passes the filters (closed since the index
    /// saw it, or past its deadline now) is left out.
    async fn page_rows(
        &self,
        ids: &[Uuid],
        f: &PostingListing,
        now: i64,
    ) -> Result<Vec<posting::Model>, ApiError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let mut rows = Vec::with_capacity(ids.len());
        let mut missing = Vec::new();
        for id in ids {
            match self.deps.rows.get(id).await {
                Some(r) => rows.push(r),
                None => missing.push(*id),
            }
        }
        if !missing.is_empty() {
            let read = posting::Entity::find()
                .filter(posting::Column::Id.is_in(missing))
                .all(&self.deps.read_db)
                .await?;
            for r in read {
                self.deps.rows.insert(r.id, r.clone()).await;
                rows.push(r);
            }
        }
        rows.retain(|r| passes(f, now, r));
        rows.sort_by_key(|r| ids.iter().position(|id| *id == r.id));
        Ok(rows)
    }
}
