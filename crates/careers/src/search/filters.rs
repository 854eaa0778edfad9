//! The list filters (`category`, `location`, `skills`, `newbie`, `experience`, `open`) as
//! index queries, over fields written beside the searched text; the same rules as the
//! SQL of `postings::filtered`, so both paths count the same postings.

use std::ops::Bound;

use tantivy::query::{
    AllQuery, BooleanQuery, ConstScoreQuery, Occur, Query, RangeQuery, TermQuery,
};
use tantivy::schema::{Field, IndexRecordOption, SchemaBuilder, FAST, INDEXED, STRING};
use tantivy::Term;

use super::facets::{CATEGORY, LOCATION, SKILLS};
use crate::postings::PostingListing;

pub(super) const POSTED_AT: &str = "posted_at";
pub(super) const DEADLINE_KEY: &str = "deadline_key";

pub(super) struct Filters {
    pub category: Field,
    pub location: Field,
    /// The skills as given (facets).
    pub skill_name: Field,
    /// Lowercase (the `skills` filter).
    pub skill_key: Field,
    pub newbie: Field,
    /// Status `OPEN` (whether the deadline passed is a range on `deadline_key`).
    pub open: Field,
    pub experience_min: Field,
    /// `i64::MAX` without an upper bound.
    pub experience_max: Field,
    pub deadline_key: Field,
    pub posted_at: Field,
}

impl Filters {
    pub fn add_to(b: &mut SchemaBuilder) -> Filters {
        Filters {
            category: b.add_text_field(CATEGORY, STRING | FAST),
            location: b.add_text_field(LOCATION, STRING | FAST),
            skill_name: b.add_text_field(SKILLS, STRING | FAST),
            skill_key: b.add_text_field("skill_key", STRING),
            newbie: b.add_bool_field("newbie", INDEXED),
            open: b.add_bool_field("open", INDEXED),
            experience_min: b.add_i64_field("experience_min", FAST),
            experience_max: b.add_i64_field("experience_max", FAST),
            deadline_key: b.add_i64_field(DEADLINE_KEY, FAST),
            posted_at: b.add_i64_field(POSTED_AT, FAST),
        }
    }

    /// `words` (scored) narrowed by every filter of `f` (unscored), as of `now`.
    pub fn apply(&self, words: Box<dyn Query>, f: &PostingListing, now: i64) -> BooleanQuery {
        let mut all: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, words)];
        let mut must = |q: Box<dyn Query>| all.push((Occur::Must, unscored(q)));
        if let Some(c) = &f.category {
            must(term(Term::from_field_text(self.category, c)));
        }
        if let Some(l) = &f.location {
            must(term(Term::from_field_text(self.location, l)));
        }
        for s in &f.skills {
            must(term(Term::from_field_text(self.skill_key, s)));
        }
        if let Some(n) = f.newbie {
            must(term(Term::from_field_bool(self.newbie, n)));
        }
        if let Some(y) = f.experience {
            let y = i64::from(y);
            must(range(
                self.experience_min,
                Bound::Unbounded,
                Bound::Included(y),
            ));
            must(range(
                self.experience_max,
                Bound::Included(y),
                Bound::Unbounded,
            ));
        }
        match f.open {
            Some(true) => must(self.open_at(now)),
            Some(false) => must(Box::new(BooleanQuery::new(vec![
                (Occur::Must, Box::new(AllQuery) as Box<dyn Query>),
                (Occur::MustNot, self.open_at(now)),
            ]))),
            None => {}
        }
        BooleanQuery::new(all)
    }

    /// Open and before its deadline at `now`.
    fn open_at(&self, now: i64) -> Box<dyn Query> {
        Box::new(BooleanQuery::new(vec![
            (Occur::Must, term(Term::from_field_bool(self.open, true))),
            (
                Occur::Must,
                range(self.deadline_key, Bound::Excluded(now), Bound::Unbounded),
            ),
        ]))
    }
}

fn term(t: Term) -> Box<dyn Query> {
    Box::new(TermQuery::new(t, IndexRecordOption::Basic))
}

fn range(field: Field, lower: Bound<i64>, upper: Bound<i64>) -> Box<dyn Query> {
    let t = |b: Bound<i64>| match b {
        Bound::Included(v) => Bound::Included(Term::from_field_i64(field, v)),
        Bound::Excluded(v) => Bound::Excluded(Term::from_field_i64(field, v)),
        Bound::Unbounded => Bound::Unbounded,
    };
    Box::new(RangeQuery::new(t(lower), t(upper)))
}

/// A filter adds nothing to the score: the order of relevance stays the words'.
fn unscored(q: Box<dyn Query>) -> Box<dyn Query> {
    Box::new(ConstScoreQuery::new(q, 0.0))
}
