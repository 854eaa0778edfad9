//! The `JobSource` contract: [`job_source_contract!`](crate::job_source_contract).
//! What careers relies on: a full read returns every posting on the board once, as plain
//! text with the required fields; a posting taken off the board is missing from the
//! next read; an outage is an error, never an empty (or short) board, since a complete
//! read that misses postings closes them.

use std::collections::HashSet;

use surge_infra::jobs::FakeJobBoard;
use surge_kernel::jobs::{JobSource, JobSourceError, SourcePage, SourcePosting};

use crate::job_boards::JobApiFake;

/// One test per case of the `JobSource` contract for the [`JobBoardFixture`] `$make`
/// gives (see the [module doc](crate::contracts)).
#[macro_export]
macro_rules! job_source_contract {
    ($name:ident, $make:expr $(, after = $after:path)? $(,)?) => {
        $crate::__contract_tests!(job_source, $name, $make, [$($after)?], [
            a_full_read_returns_every_posting_once,
            postings_are_plain_text_with_the_required_fields,
            a_posting_taken_off_the_board_is_missing_from_the_next_read,
            an_outage_is_an_error_not_a_short_board,
            two_reads_agree,
        ]);
    };
}

/// An adapter and its far end.
pub trait JobBoardFixture: Send + Sync {
    fn source(&self) -> &dyn JobSource;
    /// The ids of the readable postings on the board now.
    fn listed(&self) -> Vec<String>;
    /// Items on the board that cannot be read.
    fn unreadable(&self) -> usize;
    fn remove(&self, id: &str);
    /// The next `n` requests fail (503).
    fn fail_next(&self, n: usize);
}

impl JobBoardFixture for FakeJobBoard {
    fn source(&self) -> &dyn JobSource {
        self
    }
    fn listed(&self) -> Vec<String> {
        self.postings().into_iter().map(|p| p.source_id).collect()
    }
    fn unreadable(&self) -> usize {
        0
    }
    fn remove(&self, id: &str) {
        FakeJobBoard::remove(self, id);
    }
    fn fail_next(&self, n: usize) {
        FakeJobBoard::fail_next(self, n);
    }
}

/// `(adapter, fake API)`.
impl<S: JobSource> JobBoardFixture for (S, JobApiFake) {
    fn source(&self) -> &dyn JobSource {
        &self.0
    }
    fn listed(&self) -> Vec<String> {
        self.1.listed()
    }
    fn unreadable(&self) -> usize {
        self.1.unreadable()
    }
    fn remove(&self, id: &str) {
        self.1.remove(id);
    }
    fn fail_next(&self, n: usize) {
        self.1.fail_next(n, 503);
    }
}

/// Every page from the first: the postings and how many items failed.
pub async fn read_all(
    source: &dyn JobSource,
) -> Result<(Vec<SourcePosting>, usize), JobSourceError> {
    let mut postings = Vec::new();
    let mut failed = 0;
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let SourcePage {
            postings: p,
            failed: f,
            next,
            ..
        } = source.page(cursor.as_deref()).await?;
        postings.extend(p);
        failed += f.len();
        match next {
            Some(n) => cursor = Some(n),
            None => return Ok((postings, failed)),
        }
    }
    panic!("{} pages and no end", 1000);
}

fn ids(p: &[SourcePosting]) -> Vec<String> {
    let mut v: Vec<String> = p.iter().map(|p| p.source_id.clone()).collect();
    v.sort();
    v
}

pub async fn a_full_read_returns_every_posting_once(f: &impl JobBoardFixture) {
    let (postings, failed) = read_all(f.source()).await.expect("a full read");
    let got = ids(&postings);
    let unique: HashSet<&String> = got.iter().collect();
    assert_eq!(unique.len(), got.len(), "a posting twice: {got:?}");
    let mut want = f.listed();
    want.sort();
    assert!(!want.is_empty(), "the fixture's board has postings");
    assert_eq!(got, want);
    assert_eq!(
        failed,
        f.unreadable(),
        "unreadable items are counted as failed"
    );
}

pub async fn postings_are_plain_text_with_the_required_fields(f: &impl JobBoardFixture) {
    let (postings, _) = read_all(f.source()).await.expect("a full read");
    for p in &postings {
        for (name, v) in [
            ("source_id", &p.source_id),
            ("title", &p.title),
            ("company", &p.company),
        ] {
            assert!(!v.trim().is_empty(), "{name} of {p:?}");
        }
        assert!(
            p.url.starts_with("https://") || p.url.starts_with("http://"),
            "{p:?}"
        );
        for text in [
            &p.title,
            &p.company,
            &p.location,
            &p.district,
            &p.description,
        ] {
            assert!(
                !text.contains("&lt;") && !text.contains("&gt;") && !text.contains("&amp;"),
                "entity left in {text:?}"
            );
            assert!(
                !text.contains("<p>") && !text.contains("</"),
                "markup left in {text:?}"
            );
        }
        assert!(
            p.experience_min >= 0 && p.experience_max.is_none_or(|m| m >= p.experience_min),
            "{p:?}"
        );
        assert!(p.skills.iter().all(|s| !s.trim().is_empty()), "{p:?}");
    }
}

pub async fn a_posting_taken_off_the_board_is_missing_from_the_next_read(f: &impl JobBoardFixture) {
    let gone = f.listed().into_iter().next().expect("a posting");
    f.remove(&gone);
    let (postings, _) = read_all(f.source()).await.expect("a full read");
    assert!(!ids(&postings).contains(&gone), "{gone} is still listed");
    let mut want = f.listed();
    want.sort();
    assert_eq!(ids(&postings), want);
}

pub async fn an_outage_is_an_error_not_a_short_board(f: &impl JobBoardFixture) {
    f.fail_next(1000);
    let read = read_all(f.source()).await;
    assert!(
        matches!(read, Err(JobSourceError::Unavailable { .. })),
        "an outage must not read as a board: {:?}",
        read.map(|(p, _)| p.len())
    );
    f.fail_next(0);
    assert!(read_all(f.source()).await.is_ok(), "the board is back");
}

pub async fn two_reads_agree(f: &impl JobBoardFixture) {
    let (a, _) = read_all(f.source()).await.expect("a full read");
    let (b, _) = read_all(f.source()).await.expect("a second read");
    let mut a = a;
    let mut b = b;
    a.sort_by(|x, y| x.source_id.cmp(&y.source_id));
    b.sort_by(|x, y| x.source_id.cmp(&y.source_id));
    assert_eq!(a, b, "the same board reads the same");
}
