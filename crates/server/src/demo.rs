//! `surge demo`: a small data set so a first run has something to look at. Each module
//! adds its own part; running it twice adds nothing twice.

use surge_identity::domain::{Email, Nickname, Password};
use surge_infra::relay::Relay;
use surge_kernel::auth::Role;
use surge_kernel::ports::NewNotification;

use crate::App;

mod community;

pub const DEMO_PASSWORD: &str = "surge-demo-1234";

pub async fn load(app: &App) -> anyhow::Result<()> {
    let people = [
        ("admin@surge.local", "관리자", Role::Admin),
        ("minji@surge.local", "민지", Role::User),
        ("junho@surge.local", "준호", Role::User),
        ("mentor.kim@surge.local", "김멘토", Role::Mentor),
    ];
    let password = Password::parse(DEMO_PASSWORD)?;
    let mut created = Vec::new();
    for (email, nick, role) in people {
        let email = Email::parse(email)?;
        let nickname = Nickname::parse(nick)?;
        match app
            .identity
            .create_user(&email, Some(&password), &nickname, role)
            .await
        {
            Ok(user) => created.push(user),
            Err(e) if e.code == "email_taken" || e.code == "nickname_taken" => {}
            Err(e) => anyhow::bail!("creating demo user {}: {e}", email.as_str()),
        }
    }
    // Deliver the welcome events now rather than at the next start.
    let relay = Relay {
        db: app.foundation.db.clone(),
        bus: app.foundation.bus.clone(),
        clock: app.foundation.clock.clone(),
        signal: app.foundation.outbox.clone(),
    };
    while relay.relay_once().await? > 0 {}
    for user in &created {
        app.notifier
            .notify(
                user.id,
                NewNotification {
                    kind: "demo".into(),
                    title: "Try the live stream".into(),
                    body:
                        "Open /api/v1/notifications/stream and send yourself another notification."
                            .into(),
                    data: serde_json::json!({"docs": "/docs"}),
                },
            )
            .await?;
    }
    if created.iter().any(|u| u.role == Role::Admin) {
        shop(app).await?;
        ticketing(app).await?;
        let users: Vec<(uuid::Uuid, Role)> = created.iter().map(|u| (u.id, u.role)).collect();
        partner(app, &users).await?;
        chat(app, &users).await?;
        careers(app, &users).await?;
        community::load(app, &users).await?;
    }
    println!(
        "demo data: {} new accounts (password {DEMO_PASSWORD:?}): admin@surge.local, minji@surge.local, junho@surge.local, mentor.kim@surge.local",
        created.len()
    );
    Ok(())
}

/// A catalog in five categories, one low-stock flash-sale item, an open coupon campaign.
async fn shop(app: &App) -> anyhow::Result<()> {
    use surge_shop::domain::{NewCampaign, NewProduct};
    let catalog: &[(&str, &[(&str, i64)])] = &[
        (
            "fashion",
            &[
                ("오버핏 후드티", 49_000),
                ("데님 와이드 팬츠", 59_000),
                ("울 블렌드 코트", 189_000),
                ("니트 비니", 19_000),
                ("캔버스 토트백", 29_000),
                ("린넨 셔츠", 39_000),
            ],
        ),
        (
            "shoes",
            &[
                ("러닝화 에어 3", 129_000),
                ("가죽 첼시 부츠", 159_000),
                ("슬립온 스니커즈", 69_000),
                ("트레킹화", 139_000),
                ("실내 슬리퍼", 15_000),
            ],
        ),
        (
            "electronics",
            &[
                ("무선 이어폰 프로", 239_000),
                ("보조배터리 20000mAh", 39_000),
                ("기계식 키보드", 119_000),
                ("27인치 모니터", 329_000),
                ("스마트워치 밴드", 25_000),
                ("USB-C 허브", 45_000),
            ],
        ),
        (
            "food",
            &[
                ("제주 감귤 5kg", 24_900),
                ("한우 선물세트", 159_000),
                ("유기농 그래놀라", 12_900),
                ("콜드브루 원액", 18_900),
                ("김치 3kg", 29_900),
            ],
        ),
        (
            "books",
            &[
                ("러스트 프로그래밍", 38_000),
                ("데이터 중심 애플리케이션 설계", 36_000),
                ("클린 아키텍처", 29_000),
                ("소년이 온다", 15_000),
                ("코스모스", 22_000),
            ],
        ),
    ];
    let mut n = 0;
    for (category, items) in catalog {
        for (i, (name, price)) in items.iter().enumerate() {
            app.shop
                .catalog
                .create(NewProduct::new(
                    name,
                    &format!("{name} — Surge 데모 상품"),
                    *price,
                    20 + 7 * i as i64,
                    category,
                    None,
                )?)
                .await
                .map_err(|e| anyhow::anyhow!("demo product: {e}"))?;
            n += 1;
        }
    }
    let flash = app
        .shop
        .catalog
        .create(NewProduct::new(
            "한정판 스니커즈 (플래시 세일)",
            "오늘 단 30켤레",
            99_000,
            30,
            "shoes",
            None,
        )?)
        .await
        .map_err(|e| anyhow::anyhow!("demo product: {e}"))?;
    let now = chrono::Utc::now();
    app.shop
        .coupons
        .create_campaign(NewCampaign::new(
            "오픈 기념 10% (최대 5,000원)",
            100,
            None,
            Some(10),
            Some(5_000),
            now.timestamp_millis(),
            (now + chrono::Duration::days(30)).timestamp_millis(),
        )?)
        .await
        .map_err(|e| anyhow::anyhow!("demo campaign: {e}"))?;
    println!(
        "demo shop: {} products, flash-sale item {} (stock 30), a 100-coupon campaign",
        n + 1,
        flash.id
    );
    Ok(())
}

/// A week of domestic flights between Korean airports, with realistic cabins and
/// fares, and one fare sale open behind a waiting room.
async fn ticketing(app: &App) -> anyhow::Result<()> {
    use surge_ticketing::domain::{Grade, Iata, Layout, NewFlight, SaleRules};
    // (flight number base, origin, destination, minutes, economy fare, full-service?)
    let routes = [
        ("KE12", "GMP", "CJU", 65, 89_000, true),
        ("OZ89", "CJU", "GMP", 65, 86_000, true),
        ("7C10", "GMP", "CJU", 70, 59_000, false),
        ("LJ30", "GMP", "PUS", 60, 54_000, false),
        ("KE15", "ICN", "CJU", 75, 99_000, true),
        ("TW70", "PUS", "CJU", 55, 49_000, false),
        ("OZ83", "GMP", "KWJ", 55, 72_000, true),
        ("7C85", "CJJ", "CJU", 60, 45_000, false),
        ("LJ56", "TAE", "CJU", 60, 47_000, false),
    ];
    // Departures in Korea (UTC+9): 07:10, 12:40, 18:20.
    let slots = [(7, 10), (12, 40), (18, 20)];
    let today = chrono::Utc::now().date_naive();
    let mut made = Vec::new();
    for day in 1..=7 {
        let date = today + chrono::Duration::days(day);
        for (r, (base, from, to, minutes, fare, full)) in routes.iter().enumerate() {
            for (k, (h, m)) in slots.iter().enumerate() {
                let Some(local) = date.and_hms_opt(*h, *m, 0) else {
                    continue;
                };
                let departs = local.and_utc() - chrono::Duration::hours(9);
                // Evening and weekend flights cost more.
                let surge = if k == 2 { 12_000 } else { 0 }
                    + if matches!(departs.format("%a").to_string().as_str(), "Fri" | "Sun") {
                        15_000
                    } else {
                        0
                    };
                let layout = if *full {
                    Layout {
                        rows: 32,
                        letters: "ABCDEF".into(),
                        grades: vec![
                            Grade {
                                name: "Prestige".into(),
                                from_row: 1,
                                to_row: 2,
                                price: fare * 2 + surge,
                            },
                            Grade {
                                name: "Economy".into(),
                                from_row: 3,
                                to_row: 32,
                                price: fare + surge,
                            },
                        ],
                    }
                } else {
                    Layout {
                        rows: 31,
                        letters: "ABCDEF".into(),
                        grades: vec![
                            Grade {
                                name: "Front".into(),
                                from_row: 1,
                                to_row: 3,
                                price: fare + 20_000 + surge,
                            },
                            Grade {
                                name: "Economy".into(),
                                from_row: 4,
                                to_row: 31,
                                price: fare + surge,
                            },
                        ],
                    }
                };
                let f = app
                    .ticketing
                    .flights
                    .create(NewFlight::new(
                        &format!("{base}{}{}", r % 10, k + 1),
                        Iata::new(from, "origin")?,
                        Iata::new(to, "destination")?,
                        departs.timestamp_millis(),
                        (departs + chrono::Duration::minutes(*minutes)).timestamp_millis(),
                        layout,
                    )?)
                    .await
                    .map_err(|e| anyhow::anyhow!("demo flight: {e}"))?;
                made.push(f);
            }
        }
    }
    let on_sale = made
        .iter()
        .find(|f| f.flight_number.starts_with("7C10") && f.origin == "GMP")
        .ok_or_else(|| anyhow::anyhow!("no demo flight for the sale"))?;
    let sale = app
        .ticketing
        .sales
        .open(SaleRules::new(on_sale.id, 20, 50, 300)?)
        .await
        .map_err(|e| anyhow::anyhow!("demo sale: {e}"))?;
    println!(
        "demo ticketing: {} flights over 7 days; fare sale {} open on {} {}→{} (waiting room: 20/s, 50 inside)",
        made.len(),
        sale.id,
        on_sale.flight_number,
        on_sale.origin,
        on_sale.destination
    );
    Ok(())
}

/// Open meal and study rooms, and a few people waiting for a random match.
async fn partner(app: &App, users: &[(uuid::Uuid, Role)]) -> anyhow::Result<()> {
    use surge_kernel::auth::AuthUser;
    use surge_partner::domain::{Category, Conditions, Place, StudyType, Way};
    use surge_partner::{ApplicationDraft, RoomDraft};
    let who = |i: usize| AuthUser {
        id: users[i % users.len()].0,
        role: users[i % users.len()].1,
        session_id: uuid::Uuid::nil(),
    };
    let soon = |h: i64| (chrono::Utc::now() + chrono::Duration::hours(h)).to_rfc3339();
    let rooms = [
        (
            Category::Meal,
            "개포에서 점심 같이 먹어요",
            "클러스터 앞 국밥집, 12시 반",
            4,
            vec![Place::Gaepo],
            vec![Way::Eatout],
            vec![],
        ),
        (
            Category::Meal,
            "치킨 배달 반반 나눠요",
            "서초 클러스터 라운지에서",
            3,
            vec![Place::Seocho],
            vec![Way::Delivery],
            vec![],
        ),
        (
            Category::Study,
            "알고리즘 스터디 (주 2회)",
            "백준 골드 문제 풀이",
            6,
            vec![Place::Gaepo, Place::Seocho],
            vec![],
            vec![StudyType::InnerCircle],
        ),
        (
            Category::Study,
            "Rust 비동기 같이 공부해요",
            "tokio 소스 읽기",
            5,
            vec![Place::OutOfCluster],
            vec![],
            vec![StudyType::NotInnerCircle],
        ),
    ];
    for (i, (category, title, body, capacity, places, ways, study_types)) in
        rooms.into_iter().enumerate()
    {
        app.partner
            .rooms
            .create(
                &who(i + 1),
                RoomDraft {
                    category,
                    title: title.into(),
                    body: body.into(),
                    capacity,
                    meets_at: soon(2 + i as i64 * 24),
                    anonymous: i == 1,
                    conditions: Conditions {
                        places,
                        ways,
                        study_types,
                    },
                }
                .try_into_domain()
                .map_err(|e| anyhow::anyhow!("demo room: {e}"))?,
            )
            .await
            .map_err(|e| anyhow::anyhow!("demo room: {e}"))?;
    }
    // Waiting applications whose conditions do not meet, so they stay visible.
    let waiting = [
        (Category::Meal, vec![Place::Seocho], vec![Way::Takeout]),
        (Category::Meal, vec![Place::OutOfCluster], vec![Way::Eatout]),
    ];
    for (i, (category, places, ways)) in waiting.into_iter().enumerate() {
        app.partner
            .matcher
            .apply(
                &who(i + 1),
                ApplicationDraft {
                    category,
                    conditions: Conditions {
                        places,
                        ways,
                        study_types: vec![],
                    },
                }
                .try_into_domain()
                .map_err(|e| anyhow::anyhow!("demo application: {e}"))?,
            )
            .await
            .map_err(|e| anyhow::anyhow!("demo application: {e}"))?;
    }
    println!(
        "demo partner: 4 open rooms (2 meal, 2 study), 2 people waiting for a random meal match"
    );
    Ok(())
}

/// Two general chat rooms with every demo account in them (an admin opens them), and
/// two weather-alert rooms (서울, 부산) whose provinces the two users follow.
async fn chat(app: &App, users: &[(uuid::Uuid, Role)]) -> anyhow::Result<()> {
    use surge_chat::RoomDraft;
    use surge_kernel::auth::AuthUser;
    let who = |(id, role): (uuid::Uuid, Role)| AuthUser {
        id,
        role,
        session_id: uuid::Uuid::nil(),
    };
    let admin = users
        .iter()
        .copied()
        .find(|(_, r)| *r == Role::Admin)
        .ok_or_else(|| anyhow::anyhow!("demo chat needs an admin"))?;
    let rooms = [
        ("전국 날씨 수다", "오늘 하늘 이야기"),
        ("서울 출퇴근길", "지하철, 버스, 도로 상황"),
    ];
    for (name, description) in rooms {
        let draft = RoomDraft {
            name: name.into(),
            description: Some(description.into()),
        }
        .try_into_domain()
        .map_err(|e| anyhow::anyhow!("demo chat room: {e}"))?;
        let room = app
            .chat
            .rooms
            .create(&who(admin), draft)
            .await
            .map_err(|e| anyhow::anyhow!("demo chat room: {e}"))?;
        for u in users {
            app.chat
                .rooms
                .join(&who(*u), room.id)
                .await
                .map_err(|e| anyhow::anyhow!("demo chat member: {e}"))?;
        }
    }
    let opened = app
        .chat
        .alerts
        .apply(&surge_chat::samples::alerts(app.foundation.clock.now_ms()))
        .await
        .map_err(|e| anyhow::anyhow!("demo alert rooms: {e}"))?;
    for (id, role) in users {
        if *role == Role::User {
            for province in ["L1100000", "L1150000"] {
                app.chat
                    .alerts
                    .follow(*id, province)
                    .await
                    .map_err(|e| anyhow::anyhow!("demo follow: {e}"))?;
            }
        }
    }
    println!(
        "demo chat: 2 general rooms, every demo account a member; {} weather-alert rooms (서울 폭염주의보, 부산 호우경보), followed by minji and junho",
        opened.opened
    );
    Ok(())
}

/// How many postings `surge demo` adds.
pub const DEMO_POSTINGS: u64 = 2_000;

/// About 2,000 Korean job postings (every category, region, experience range; some
/// past their deadline), a mentor with three programs, points for the two job seekers.
async fn careers(app: &App, users: &[(uuid::Uuid, Role)]) -> anyhow::Result<()> {
    use surge_careers::{GrantDraft, ProgramDraft};
    use surge_kernel::auth::AuthUser;
    let fail =
        |what: &'static str| move |e: surge_kernel::ApiError| anyhow::anyhow!("demo {what}: {e}");
    let as_user = |role: Role| {
        users
            .iter()
            .find(|(_, r)| *r == role)
            .map(|(id, role)| AuthUser {
                id: *id,
                role: *role,
                session_id: uuid::Uuid::nil(),
            })
            .ok_or_else(|| anyhow::anyhow!("no demo {role:?}"))
    };
    let now = chrono::Utc::now().timestamp_millis();
    let postings = (0..DEMO_POSTINGS)
        .map(|n| surge_careers::samples::posting(n, now))
        .collect();
    app.careers
        .postings
        .create_many(postings)
        .await
        .map_err(fail("postings"))?;
    let news = surge_careers::samples::news(now);
    let items = news.len();
    let feed = surge_infra::news::FakeFeed::default();
    feed.set(news);
    let run = app
        .careers
        .news
        .import(DEMO_NEWS_FEED, &feed)
        .await
        .map_err(fail("news"))?;
    anyhow::ensure!(
        run.status == surge_careers::domain::SyncStatus::Succeeded,
        "demo news: {:?}",
        run.error
    );
    let mentor = as_user(Role::Mentor)?;
    let day = |d: i64| (chrono::Utc::now() + chrono::Duration::days(d)).to_rfc3339();
    let programs = [
        (
            "현직 백엔드 개발자와 함께하는 Spring 코드 리뷰",
            "매주 한 번, 여러분의 Spring 프로젝트를 함께 리뷰합니다.",
            vec!["Java", "Spring"],
            5,
            100,
            7,
        ),
        (
            "신입 개발자 이력서·포트폴리오 첨삭",
            "서류 합격률을 높이는 이력서와 포트폴리오 작성법을 1:1로 봐 드립니다.",
            vec![],
            10,
            50,
            3,
        ),
        (
            "Rust로 만드는 고성능 서버 (4주)",
            "tokio와 axum으로 작은 서비스를 처음부터 만들어 봅니다.",
            vec!["Rust", "Tokio"],
            4,
            200,
            14,
        ),
    ];
    for (title, description, skills, capacity, cost_points, starts_in) in programs {
        let draft = ProgramDraft {
            title: title.into(),
            description: description.into(),
            skills: skills.into_iter().map(String::from).collect(),
            capacity,
            cost_points,
            starts_at: day(starts_in),
            ends_at: day(starts_in + 28),
        };
        app.careers
            .programs
            .create(&mentor, draft.try_into_domain().map_err(fail("program"))?)
            .await
            .map_err(fail("program"))?;
    }
    let admin = as_user(Role::Admin)?;
    for (id, role) in users {
        if *role == Role::User {
            let grant = GrantDraft {
                user_id: *id,
                amount: 500,
                reason: "데모 가입 축하 포인트".into(),
            };
            app.careers
                .points
                .grant(&admin, grant.try_into_domain().map_err(fail("points"))?)
                .await
                .map_err(fail("points"))?;
        }
    }
    println!(
        "demo careers: {DEMO_POSTINGS} job postings (some past their deadline), {items} sample news items (feed {DEMO_NEWS_FEED:?}), 3 mentoring programs by mentor.kim, 500 points each for minji and junho"
    );
    Ok(())
}

/// The feed name of the demo's news items: made-up sample items (titles marked
/// `[샘플]`, links under news.example.com), not any blog's posts.
pub const DEMO_NEWS_FEED: &str = "sample";
