//! [`FakeJobBoard`]: an offline job board that behaves like the real ones: postings
//! with stable ids served in pages (keyset by id, so a posting removed between two pages
//! shifts nothing), that tests and the demo change (`put`) or take away (`remove`)
//! between runs, and outages on demand (`fail_next`). Seeded boards are deterministic:
//! the same seed gives the same postings.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use async_trait::async_trait;
use surge_kernel::jobs::{JobKind, JobSource, JobSourceError, SourcePage, SourcePosting};

#[derive(Debug, Default)]
struct Board {
    postings: BTreeMap<String, SourcePosting>,
    fail_next: usize,
    pages_served: u64,
}

#[derive(Debug)]
pub struct FakeJobBoard {
    board: Mutex<Board>,
    page_size: usize,
}

const COMPANIES: [&str; 10] = [
    "가상전자",
    "예시소프트",
    "샘플랩스",
    "테스트뱅크",
    "모의커머스",
    "데모게임즈",
    "견본모빌리티",
    "시범헬스케어",
    "연습클라우드",
    "보기미디어",
];
const ROLES: [(&str, &str, &[&str]); 8] = [
    ("백엔드 개발자", "backend", &["Java", "Spring", "MySQL"]),
    (
        "Rust 서버 엔지니어",
        "backend",
        &["Rust", "PostgreSQL", "Kafka"],
    ),
    ("프론트엔드 개발자", "frontend", &["TypeScript", "React"]),
    ("안드로이드 개발자", "mobile", &["Kotlin", "Android"]),
    ("데이터 엔지니어", "data", &["Python", "Spark", "Airflow"]),
    (
        "DevOps 엔지니어",
        "devops",
        &["Kubernetes", "Terraform", "AWS"],
    ),
    ("머신러닝 엔지니어", "ai", &["Python", "PyTorch"]),
    ("iOS 개발자", "mobile", &["Swift", "iOS"]),
];
const PLACES: [(&str, &str); 6] = [
    ("서울", "강남구"),
    ("서울", "마포구"),
    ("경기", "성남시"),
    ("부산", "해운대구"),
    ("대전", "유성구"),
    ("서울", "서초구"),
];
/// 2026-11-01T00:00:00Z: seeded postings were published from then on.
const EPOCH_MS: i64 = 1_793_491_200_000;
/// 2030-01-01T00:00:00Z: seeded deadlines fall after it.
const DEADLINES_FROM_MS: i64 = 1_893_456_000_000;
const HOUR_MS: i64 = 3_600_000;

impl FakeJobBoard {
    /// An empty board serving `page_size` postings a page.
    pub fn new(page_size: usize) -> Self {
        Self {
            board: Mutex::new(Board::default()),
            page_size: page_size.max(1),
        }
    }

    /// A board with `count` deterministic postings (ids `fake-<seed>-<n>`).
    pub fn seeded(seed: u64, count: usize, page_size: usize) -> Self {
        let board = Self::new(page_size);
        for n in 0..count {
            board.put(Self::sample(seed, n));
        }
        board
    }

    /// The `n`th posting of a seeded board.
    pub fn sample(seed: u64, n: usize) -> SourcePosting {
        // splitmix64 of (seed, n): deterministic, and unlike from one posting to the next.
        let mut mix = seed
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(n as u64)
            .wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix = (mix ^ (mix >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        mix = (mix ^ (mix >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        mix ^= mix >> 31;
        let pick = |k: u64, len: usize| ((mix >> (k * 8)) % len as u64) as usize;
        let (role, category, skills) = ROLES[pick(1, ROLES.len())];
        let company = COMPANIES[pick(2, COMPANIES.len())];
        let (location, district) = PLACES[pick(3, PLACES.len())];
        let newbie = pick(4, 3) == 0;
        let id = format!("fake-{seed}-{n}");
        SourcePosting {
            title: format!("{role}{}", if newbie { " (신입)" } else { "" }),
            company: company.into(),
            location: location.into(),
            district: district.into(),
            category: category.into(),
            skills: skills.iter().map(|s| (*s).to_owned()).collect(),
            experience_min: if newbie { 0 } else { 1 + pick(5, 5) as i32 },
            experience_max: if newbie { Some(2) } else { None },
            newbie,
            kind: if pick(6, 10) == 0 {
                JobKind::Contract
            } else {
                JobKind::FullTime
            },
            deadline: (pick(7, 4) != 0).then(|| DEADLINES_FROM_MS + n as i64 * 24 * HOUR_MS),
            url: format!("https://jobs.example.com/{id}"),
            description: format!(
                "{company}에서 {role}를 찾습니다. {} 경험을 우대합니다.",
                skills.join(", ")
            ),
            posted_at: Some(EPOCH_MS + n as i64 * HOUR_MS),
            source_id: id,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Board> {
        self.board.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds a posting, or replaces the one with its id (a change upstream).
    pub fn put(&self, p: SourcePosting) {
        self.lock().postings.insert(p.source_id.clone(), p);
    }

    /// Takes a posting off the board (filled or withdrawn upstream).
    pub fn remove(&self, source_id: &str) -> Option<SourcePosting> {
        self.lock().postings.remove(source_id)
    }

    pub fn get(&self, source_id: &str) -> Option<SourcePosting> {
        self.lock().postings.get(source_id).cloned()
    }

    /// Every posting on the board, by id.
    pub fn postings(&self) -> Vec<SourcePosting> {
        self.lock().postings.values().cloned().collect()
    }

    /// The next `n` page requests fail as an unreachable board would.
    pub fn fail_next(&self, n: usize) {
        self.lock().fail_next = n;
    }

    /// Pages served so far (outages not counted).
    pub fn pages_served(&self) -> u64 {
        self.lock().pages_served
    }
}

#[async_trait]
impl JobSource for FakeJobBoard {
    fn kind(&self) -> &'static str {
        "fake"
    }

    async fn page(&self, cursor: Option<&str>) -> Result<SourcePage, JobSourceError> {
        let mut b = self.lock();
        if b.fail_next > 0 {
            b.fail_next -= 1;
            return Err(JobSourceError::Unavailable {
                source_name: "the fake job board",
                detail: "simulated outage (FakeJobBoard::fail_next)".into(),
            });
        }
        b.pages_served += 1;
        let after = cursor.unwrap_or_default().to_owned();
        let mut rest = b
            .postings
            .range::<String, _>((std::ops::Bound::Excluded(after), std::ops::Bound::Unbounded))
            .map(|(_, p)| p.clone());
        let postings: Vec<SourcePosting> = rest.by_ref().take(self.page_size).collect();
        let more = rest.next().is_some();
        Ok(SourcePage {
            next: if more {
                postings.last().map(|p| p.source_id.clone())
            } else {
                None
            },
            total: Some(b.postings.len() as u64),
            postings,
            failed: Vec::new(),
        })
    }
}
