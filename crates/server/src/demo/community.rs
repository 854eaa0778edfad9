//! The community part of `surge demo`: posts around Seoul, Busan and Jeju, two missions
//! for each slot, and a coupon campaign that needs today's mission.

use surge_community::domain::{MissionDraft, Slot};
use surge_community::PostDraft;
use surge_kernel::auth::{AuthUser, Role};

use crate::App;

/// (title, body, latitude, longitude, place)
const POSTS: [(&str, &str, f64, f64, &str); 9] = [
    (
        "여의도 한강 바람 시원해요",
        "구름 한 점 없어요",
        37.5284,
        126.9327,
        "여의도 한강공원",
    ),
    (
        "광화문 미세먼지 보통",
        "마스크는 챙기세요",
        37.5759,
        126.9768,
        "광화문광장",
    ),
    (
        "남산 노을 예뻐요",
        "해 지기 30분 전이 제일 좋아요",
        37.5512,
        126.9882,
        "남산서울타워",
    ),
    (
        "해운대 파도 높아요",
        "서핑하기 좋은 날",
        35.1587,
        129.1604,
        "해운대해수욕장",
    ),
    (
        "광안대교 야경 맑음",
        "바람이 조금 불어요",
        35.1532,
        129.1186,
        "광안리해변",
    ),
    (
        "서면 소나기 지나갔어요",
        "우산 챙기세요",
        35.1577,
        129.0594,
        "서면",
    ),
    (
        "성산일출봉 일출 봤어요",
        "새벽엔 꽤 추워요",
        33.4581,
        126.9425,
        "성산일출봉",
    ),
    (
        "한라산 정상 눈 와요",
        "아이젠 필수",
        33.3617,
        126.5292,
        "한라산 백록담",
    ),
    (
        "협재 바다 에메랄드빛",
        "바람 약하고 따뜻해요",
        33.3940,
        126.2397,
        "협재해수욕장",
    ),
];

/// (slot, title, description, points)
const MISSIONS: [(Slot, &str, &str, i64); 6] = [
    (
        Slot::Morning,
        "아침 하늘",
        "오늘 아침 하늘을 찍어 주세요",
        30,
    ),
    (
        Slot::Morning,
        "출근길 날씨",
        "출근길 거리의 모습을 찍어 주세요",
        20,
    ),
    (
        Slot::Afternoon,
        "점심 산책",
        "점심 산책길의 하늘이나 나무를 찍어 주세요",
        30,
    ),
    (
        Slot::Afternoon,
        "오늘의 구름",
        "지금 보이는 구름을 찍어 주세요",
        20,
    ),
    (Slot::Evening, "노을", "해 질 녘 하늘을 찍어 주세요", 50),
    (Slot::Evening, "밤하늘", "오늘 밤하늘을 찍어 주세요", 40),
];

pub async fn load(app: &App, users: &[(uuid::Uuid, Role)]) -> anyhow::Result<()> {
    let Some(&(author, role)) = users.iter().find(|(_, r)| *r == Role::User) else {
        return Ok(());
    };
    let who = AuthUser {
        id: author,
        role,
        session_id: uuid::Uuid::nil(),
    };
    let c = &app.community;
    for (title, body, latitude, longitude, place) in POSTS {
        let draft = PostDraft {
            title: title.into(),
            body: body.into(),
            latitude,
            longitude,
            place_name: Some(place.into()),
            image_ids: vec![],
        }
        .try_into_domain()?;
        c.posts
            .create(&who, draft)
            .await
            .map_err(|e| anyhow::anyhow!("demo post: {e}"))?;
    }
    for (slot, title, description, points) in MISSIONS {
        c.missions
            .create(MissionDraft::new(title, description, points, slot, true)?)
            .await
            .map_err(|e| anyhow::anyhow!("demo mission: {e}"))?;
    }
    let now = chrono::Utc::now();
    app.shop
        .coupons
        .create_campaign(
            surge_shop::domain::NewCampaign::new(
                "오늘의 미션 완료 2,000원",
                1_000,
                Some(2_000),
                None,
                None,
                now.timestamp_millis(),
                (now + chrono::Duration::days(30)).timestamp_millis(),
            )?
            .with_rules(true, Some(20))?,
        )
        .await
        .map_err(|e| anyhow::anyhow!("demo mission campaign: {e}"))?;
    println!(
        "demo community: {} posts around Seoul, Busan and Jeju, {} missions (two per slot), a mission-gated campaign (20 a day)",
        POSTS.len(),
        MISSIONS.len()
    );
    Ok(())
}
