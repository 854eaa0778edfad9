//! Realistic synthetic Korean job postings for `surge demo` (through the use cases) and
//! for the search benchmark (`surge careers generate`, bulk-inserted): categories with
//! their titles and skills, companies, regions with districts, experience ranges,
//! deadlines (some past, some none). Deterministic: posting `n` is always the same, so a
//! benchmark's data set can be made again.

use surge_kernel::Millis;

use crate::domain::{EmploymentType, Experience, Skills};
use crate::postings::NewPosting;

/// (category, titles, skills a posting of it picks from, what the job does)
type Category = (
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
);

#[rustfmt::skip]
const CATEGORIES: [Category; 12] = [
    ("backend", &["백엔드 개발자", "서버 개발자", "Java 백엔드 엔지니어", "Node.js 백엔드 개발자", "Go 서버 엔지니어", "Rust 백엔드 엔지니어", "Python 백엔드 개발자", "결제 플랫폼 엔지니어", "API 서버 개발자"],
        &["Java", "Spring", "Kotlin", "JPA", "MySQL", "PostgreSQL", "Redis", "Kafka", "Go", "Rust", "Node.js", "Python", "Django", "gRPC", "AWS"],
        &["대용량 트래픽을 처리하는 API 서버를 설계하고 운영합니다", "주문과 결제 시스템을 마이크로서비스로 개발합니다", "검색과 추천 서비스의 백엔드를 만듭니다"]),
    ("frontend", &["프론트엔드 개발자", "웹 프론트엔드 엔지니어", "React 개발자", "Vue.js 개발자", "웹 퍼블리셔"],
        &["JavaScript", "TypeScript", "React", "Next.js", "Vue", "CSS", "Webpack", "GraphQL"],
        &["서비스의 웹 화면과 디자인 시스템을 만듭니다", "사용자가 매일 쓰는 웹 앱의 성능을 개선합니다"]),
    ("mobile", &["iOS 개발자", "안드로이드 개발자", "Flutter 앱 개발자", "모바일 앱 개발자", "React Native 개발자"],
        &["Swift", "SwiftUI", "Kotlin", "Android", "Flutter", "Dart", "React Native"],
        &["수백만 명이 쓰는 모바일 앱을 개발합니다", "앱의 아키텍처를 설계하고 배포를 자동화합니다"]),
    ("data", &["데이터 엔지니어", "데이터 분석가", "데이터 플랫폼 엔지니어", "BI 엔지니어"],
        &["Python", "SQL", "Spark", "Airflow", "Kafka", "Hadoop", "Tableau", "BigQuery"],
        &["데이터 파이프라인과 데이터 웨어하우스를 구축합니다", "서비스 지표를 분석해 의사결정을 돕습니다"]),
    ("ai", &["머신러닝 엔지니어", "AI 연구원", "MLOps 엔지니어", "컴퓨터 비전 엔지니어", "자연어처리 엔지니어"],
        &["Python", "PyTorch", "TensorFlow", "Kubernetes", "MLflow", "CUDA", "LLM"],
        &["추천 모델을 학습하고 서빙합니다", "대규모 언어 모델을 연구하고 서비스에 적용합니다"]),
    ("devops", &["DevOps 엔지니어", "SRE 엔지니어", "클라우드 엔지니어", "인프라 엔지니어"],
        &["Kubernetes", "Docker", "Terraform", "AWS", "GCP", "Prometheus", "Linux", "Ansible"],
        &["Kubernetes 클러스터와 CI/CD 파이프라인을 운영합니다", "서비스 안정성과 모니터링을 책임집니다"]),
    ("security", &["정보보안 엔지니어", "보안 관제 담당자", "모의해킹 전문가", "클라우드 보안 엔지니어"],
        &["Linux", "Network", "Python", "SIEM", "AWS"],
        &["보안 관제와 침해사고 대응을 담당합니다", "서비스의 취약점을 점검하고 개선합니다"]),
    ("game", &["게임 서버 프로그래머", "Unity 클라이언트 개발자", "언리얼 엔진 개발자", "게임 기획자"],
        &["C++", "C#", "Unity", "Unreal", "Redis"],
        &["온라인 게임의 서버를 개발합니다", "모바일 게임 클라이언트를 개발합니다"]),
    ("embedded", &["임베디드 소프트웨어 개발자", "펌웨어 엔지니어", "자율주행 소프트웨어 엔지니어"],
        &["C", "C++", "RTOS", "Linux", "ROS"],
        &["가전 제품의 펌웨어를 개발합니다", "자율주행 차량의 인지 소프트웨어를 개발합니다"]),
    ("qa", &["QA 엔지니어", "테스트 자동화 엔지니어"],
        &["Selenium", "Python", "Cypress", "JMeter"],
        &["테스트 자동화로 품질을 지킵니다"]),
    ("design", &["UX/UI 디자이너", "프로덕트 디자이너", "BX 디자이너"],
        &["Figma", "Sketch", "Framer"],
        &["서비스의 사용자 경험을 디자인합니다"]),
    ("product", &["프로덕트 매니저", "서비스 기획자", "프로덕트 오너"],
        &["Jira", "SQL", "Amplitude"],
        &["사용자 문제를 정의하고 제품 로드맵을 이끕니다"]),
];

#[rustfmt::skip]
const COMPANIES: [&str; 30] = [
    "네이버", "카카오", "라인", "쿠팡", "우아한형제들", "토스", "당근", "야놀자", "무신사", "직방",
    "크래프톤", "넥슨", "엔씨소프트", "넷마블", "삼성전자", "LG전자", "SK텔레콤", "KT", "현대오토에버", "하이퍼커넥트",
    "리디", "뱅크샐러드", "두나무", "컬리", "버킷플레이스", "여기어때", "쏘카", "센드버드", "업스테이지", "42dot",
];

/// (location, districts): where the jobs are, weighted towards Seoul and Pangyo.
#[rustfmt::skip]
const REGIONS: [(&str, &[&str]); 10] = [
    ("서울", &["강남구", "서초구", "송파구", "마포구", "영등포구", "성동구", "중구", "구로구"]),
    ("서울", &["강남구", "역삼동", "삼성동"]),
    ("판교", &["분당구 삼평동", "분당구 백현동"]),
    ("판교", &["분당구 삼평동"]),
    ("부산", &["해운대구", "남구", "부산진구"]),
    ("대전", &["유성구", "서구"]),
    ("대구", &["수성구", "동구"]),
    ("광주", &["북구", "광산구"]),
    ("수원", &["영통구", "팔달구"]),
    ("제주", &["제주시", "서귀포시"]),
];

const DAY_MS: Millis = 86_400_000;

/// SplitMix64: a tiny deterministic generator, enough to spread postings out.
struct Dice(u64);

impl Dice {
    fn new(seed: u64) -> Self {
        Dice(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0x5DEE_CE66_D1CE_4E5B)
    }
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// 0..n.
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
    /// True `percent` times in a hundred.
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// Posting `n` of a data set made at `now`: posted within the last 60 days; about one
/// in seven has a deadline already past (it is no longer open), one in ten none.
pub fn posting(n: u64, now: Millis) -> NewPosting {
    let mut d = Dice::new(n);
    let (category, titles, skill_pool, duties) = d.pick(&CATEGORIES);
    let company = *d.pick(&COMPANIES);
    let (location, districts) = d.pick(&REGIONS);
    let district = *d.pick(districts);
    let newbie = d.chance(25);
    let title = *d.pick(titles);
    let title = if newbie {
        if d.chance(30) {
            format!("[인턴] {title}")
        } else {
            format!("신입 {title}")
        }
    } else {
        match d.below(4) {
            0 => format!("시니어 {title}"),
            1 => format!("{title} (경력)"),
            _ => title.to_owned(),
        }
    };
    let mut skills: Vec<String> = Vec::new();
    for _ in 0..2 + d.below(3) {
        let s = (*d.pick(skill_pool)).to_owned();
        if !skills.contains(&s) {
            skills.push(s);
        }
    }
    let experience = if newbie {
        Experience {
            min: 0,
            max: Some(2),
        }
    } else {
        let min = *d.pick(&[1, 2, 3, 3, 5, 7, 10]);
        let max = d.chance(60).then(|| min + 2 + d.below(4) as i32);
        Experience { min, max }
    };
    let employment_type = if title.starts_with("[인턴]") {
        EmploymentType::Intern
    } else {
        *d.pick(&[
            EmploymentType::FullTime,
            EmploymentType::FullTime,
            EmploymentType::FullTime,
            EmploymentType::FullTime,
            EmploymentType::Contract,
            EmploymentType::PartTime,
        ])
    };
    let posted_at = now - d.below(60) as Millis * DAY_MS - d.below(86_400) as Millis * 1_000;
    let deadline = match d.below(100) {
        0..=9 => None,
        10..=23 => Some(now - (1 + d.below(20) as Millis) * DAY_MS),
        _ => Some(now + (1 + d.below(60) as Millis) * DAY_MS),
    };
    let duty = d.pick(duties);
    let who = if newbie {
        "함께 성장할 신입을 찾습니다".to_owned()
    } else {
        format!("{}년 이상의 경험이 있는 분을 찾습니다", experience.min)
    };
    let description = format!(
        "{company}에서 {title}를 채용합니다. {duty}. {who}. 주요 기술: {}. 근무지: {location} {district}.",
        skills.join(", ")
    );
    NewPosting {
        title,
        company: company.to_owned(),
        location: (*location).to_owned(),
        district: district.to_owned(),
        category: (*category).to_owned(),
        // At most 4 skills of at most 40 characters each: always valid.
        skills: Skills::new(&skills).unwrap_or_default(),
        experience,
        newbie,
        employment_type,
        deadline,
        url: format!("https://jobs.example.com/surge-sample/{n}"),
        description,
        posted_at: Some(posted_at),
    }
}

/// `surge demo`'s made-up tech news (titles marked `[샘플]`, links under
/// news.example.com) naming sample companies (so they link to them), a day apart.
pub fn news(now: i64) -> Vec<surge_kernel::news::NewsItem> {
    const DAY: i64 = 24 * 60 * 60 * 1000;
    let items = [
        (
            "당근 검색 서버를 Rust로 다시 쓴 이야기",
            "당근 검색팀이 지연 시간을 절반으로 줄인 과정을 정리했습니다.",
        ),
        (
            "토스의 대규모 결제 트래픽을 버티는 Kafka 운영기",
            "토스 결제 플랫폼이 초당 수만 건의 이벤트를 처리하는 방법.",
        ),
        (
            "우아한형제들 배달 앱의 Kubernetes 전환 회고",
            "우아한형제들 인프라팀의 클러스터 이전 1년.",
        ),
        (
            "카카오 메시지 서버의 장애 대응 체계",
            "카카오가 새벽 장애를 5분 안에 찾는 관측 도구들.",
        ),
        (
            "네이버 검색의 한국어 형태소 분석 개선",
            "네이버 검색에서 조사와 어미를 다루는 방법.",
        ),
        (
            "쿠팡 물류 시스템의 주문 배정 알고리즘",
            "쿠팡의 새벽 배송을 가능하게 하는 배정 최적화.",
        ),
        (
            "무신사 프론트엔드 팀의 React Server Components 도입기",
            "무신사 스토어의 첫 화면 로딩을 줄인 경험.",
        ),
        (
            "신입 개발자를 위한 코드 리뷰 잘 받는 법",
            "어느 회사에서나 통하는 리뷰 요청과 답변 요령.",
        ),
    ];
    items
        .iter()
        .enumerate()
        .map(|(n, (title, summary))| surge_kernel::news::NewsItem {
            guid: format!("demo-news-{n}"),
            title: format!("[샘플] {title}"),
            url: format!("https://news.example.com/demo/{n}"),
            summary: (*summary).to_owned(),
            published_at: Some(now - DAY * n as i64),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_valid_varied_and_repeatable() {
        let now = 1_800_000_000_000;
        let all: Vec<NewPosting> = (0..2_000).map(|n| posting(n, now)).collect();
        assert_eq!(posting(7, now).title, all[7].title);
        let past = all
            .iter()
            .filter(|p| p.deadline.is_some_and(|d| d < now))
            .count();
        assert!((150..450).contains(&past), "{past} past deadlines");
        let newbie = all.iter().filter(|p| p.newbie).count();
        assert!((300..700).contains(&newbie), "{newbie} newbie postings");
        for p in &all {
            assert!(!p.skills.as_slice().is_empty() && p.skills.as_slice().len() <= 4);
            assert!(Experience::new(p.experience.min, p.experience.max).is_ok());
            assert!(crate::domain::web_url(&p.url).is_ok());
        }
        let locations: std::collections::BTreeSet<&str> =
            all.iter().map(|p| p.location.as_str()).collect();
        assert_eq!(locations.len(), 8, "{locations:?}");
    }
}
