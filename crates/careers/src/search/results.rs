//! What a search answers: postings with their highlights (the matched words marked,
//! the rest HTML-escaped) and the facet counts over every match.

use serde::Serialize;
use surge_kernel::page::{encode_cursor, invalid_cursor, PageQuery};
use surge_kernel::ApiError;
use tantivy::columnar::Column;
use tantivy::query::Query;
use tantivy::schema::Field;
use tantivy::snippet::SnippetGenerator;
use tantivy::{DocAddress, Searcher};
use uuid::Uuid;

use crate::entities::posting;
use crate::postings::{PostingListing, PostingView};

/// The posting id's two halves (u64 columns): a page's ids are read from the columns,
/// not from stored documents.
pub(super) const ID_HI: &str = "id_hi";
pub(super) const ID_LO: &str = "id_lo";

/// An index failure, as a 500 that names the index.
pub(super) fn internal(e: impl std::fmt::Display) -> ApiError {
    ApiError::internal(anyhow::anyhow!("careers search index: {e}"))
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct FacetCount {
    pub value: String,
    pub count: u64,
}

/// Counts over every match (after the filters), most frequent first.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct Facets {
    pub category: Vec<FacetCount>,
    pub skills: Vec<FacetCount>,
    pub location: Vec<FacetCount>,
}

/// The matched words marked with `<b>…</b>`, the rest HTML-escaped.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Highlights {
    pub title: String,
    /// The best fragment of the description (up to 150 characters).
    pub description: String,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PostingHit {
    #[serde(flatten)]
    pub posting: PostingView,
    /// With `q` only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub highlights: Option<Highlights>,
}

/// A page of postings with the facets and total of every posting that passes the
/// filters (and matches `q`, if given).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PostingResults {
    pub items: Vec<PostingHit>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub facets: Option<Facets>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// `text` with the matched words in `<b>…</b>`: all of it when it is short, else its
/// best fragment; without a match, its start, escaped.
pub(super) fn marked(g: &SnippetGenerator, text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return marked_whole(g, text);
    }
    let s = g.snippet(text);
    if s.is_empty() {
        escape(&text.chars().take(max_chars).collect::<String>())
    } else {
        s.to_html()
    }
}

/// All of `text` (a title), with the matched words in `<b>…</b>`, the rest escaped.
pub(super) fn marked_whole(g: &SnippetGenerator, text: &str) -> String {
    let s = g.snippet(text);
    let shift = s.fragment_range().start;
    let mut ranges: Vec<std::ops::Range<usize>> = s
        .highlighted()
        .iter()
        .map(|r| r.start + shift..r.end + shift)
        .collect();
    ranges.sort_by_key(|r| r.start);
    let mut out = String::with_capacity(text.len() + 16);
    let mut at = 0;
    for r in ranges {
        if r.end <= at || r.end > text.len() {
            continue;
        }
        let start = r.start.max(at);
        if start > at {
            // The previous mark ended before this one: close it, add the gap.
            out.push_str(&escape(&text[at..start]));
        } else if at > 0 && out.ends_with("</b>") {
            // Overlapping or touching: extend the open mark.
            out.truncate(out.len() - "</b>".len());
            out.push_str(&escape(&text[start..r.end]));
            out.push_str("</b>");
            at = r.end;
            continue;
        }
        out.push_str("<b>");
        out.push_str(&escape(&text[start..r.end]));
        out.push_str("</b>");
        at = r.end;
    }
    out.push_str(&escape(&text[at..]));
    out
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// What one pass over the index found: the page's postings (ids) and, over every
/// match, their number and facets; for words, what marks them in the page's text
/// (kept with the answer: a repeated search builds no query).
pub(super) struct Found {
    pub ids: Vec<Uuid>,
    pub total: u64,
    pub facets: Facets,
    pub snippets: Option<Snippets>,
}

/// Marks the matched words (of every word, or of any when no posting had all of them).
pub(super) struct Snippets {
    pub title: SnippetGenerator,
    pub description: SnippetGenerator,
    /// Highlights already made, by posting (with the `updated_at` they were made for).
    pub marked: std::sync::Mutex<std::collections::HashMap<Uuid, (i64, Highlights)>>,
}

/// The cache key of an answer: the index generation, the minute (whether a deadline
/// passed; the page itself is checked at the exact time), the filters with the words
/// and order, the page.
pub(super) fn answer_key(
    searcher: &Searcher,
    f: &PostingListing,
    now: i64,
    offset: usize,
    limit: usize,
) -> String {
    format!(
        "{}|{}|{f:?}|{offset}|{limit}",
        searcher.generation().generation_id(),
        now / 60_000
    )
}

impl Found {
    pub(super) fn answer(
        &self,
        items: Vec<PostingHit>,
        offset: usize,
        limit: usize,
    ) -> PostingResults {
        let next_cursor = (offset + limit < self.total as usize)
            .then(|| encode_cursor(&format!("o:{}", offset + limit)));
        PostingResults {
            items,
            facets: Some(self.facets.clone()),
            total: Some(self.total),
            next_cursor,
        }
    }
}

/// A page's size and where it starts (`o:<offset>` cursors: a page of the same query is
/// the next `limit` of the same ranking).
pub(super) fn page_of(page: &PageQuery) -> Result<(usize, usize), ApiError> {
    let offset = match page.cursor()? {
        None => 0,
        Some(c) => c
            .strip_prefix("o:")
            .and_then(|n| n.parse::<usize>().ok())
            .ok_or_else(invalid_cursor)?,
    };
    Ok((page.limit()? as usize, offset))
}

impl Snippets {
    /// Marks the words of `words` in titles (whole) and descriptions (best fragment).
    pub(super) fn new(
        searcher: &Searcher,
        words: &dyn Query,
        title: Field,
        description: Field,
    ) -> Result<Self, ApiError> {
        let mut title = SnippetGenerator::create(searcher, words, title).map_err(internal)?;
        title.set_max_num_chars(1_000);
        let description =
            SnippetGenerator::create(searcher, words, description).map_err(internal)?;
        Ok(Snippets {
            title,
            description,
            marked: Default::default(),
        })
    }

    /// The posting's highlights, kept for its version: the same answer shown again
    /// marks nothing anew.
    pub(super) fn marks(&self, r: &posting::Model) -> Highlights {
        let kept = self.marked.lock().ok().and_then(|m| {
            m.get(&r.id)
                .filter(|(at, _)| *at == r.updated_at)
                .map(|(_, h)| h.clone())
        });
        if let Some(h) = kept {
            return h;
        }
        let h = Highlights {
            title: marked_whole(&self.title, &r.title),
            description: marked(&self.description, &r.description, 150),
        };
        if let Ok(mut m) = self.marked.lock() {
            m.insert(r.id, (r.updated_at, h.clone()));
        }
        h
    }
}

/// The posting ids of `docs`, in their order, from the id columns.
pub(super) fn ids_of(searcher: &Searcher, docs: &[DocAddress]) -> Result<Vec<Uuid>, ApiError> {
    let mut columns: Vec<Option<(Column<u64>, Column<u64>)>> =
        vec![None; searcher.segment_readers().len()];
    let mut ids = Vec::with_capacity(docs.len());
    for addr in docs {
        let slot = &mut columns[addr.segment_ord as usize];
        if slot.is_none() {
            let ff = searcher.segment_reader(addr.segment_ord).fast_fields();
            *slot = Some((
                ff.u64(ID_HI).map_err(internal)?,
                ff.u64(ID_LO).map_err(internal)?,
            ));
        }
        if let Some((hi, lo)) = slot {
            if let (Some(hi), Some(lo)) = (hi.first(addr.doc_id), lo.first(addr.doc_id)) {
                ids.push(Uuid::from_u64_pair(hi, lo));
            }
        }
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_escaped() {
        assert_eq!(escape("<b>&\"'"), "&lt;b&gt;&amp;&quot;&#39;");
    }
}
