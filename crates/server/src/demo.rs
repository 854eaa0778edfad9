//! `surge demo`: a small data set so a first run has something to look at. Each module
//! adds its own part; running it twice adds nothing twice.

use surge_identity::domain::{Email, Nickname, Password};
use surge_infra::relay::Relay;
use surge_kernel::auth::Role;
use surge_kernel::ports::NewNotification;

use crate::App;

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
    }
    println!(
        "demo data: {} new accounts (password {DEMO_PASSWORD:?}): admin@surge.local, minji@surge.local, junho@surge.local, mentor.kim@surge.local",
        created.len()
    );
    Ok(())
}

/// A catalog in five categories, one low-stock flash-sale item, an open coupon campaign.
async fn shop(app: &App) -> anyhow::Result<()> {
    use surge_shop::catalog::ProductDraft;
    use surge_shop::coupons::CampaignDraft;
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
                .create(ProductDraft {
                    name: (*name).into(),
                    description: format!("{name} — Surge 데모 상품"),
                    price: *price,
                    stock: 20 + 7 * i as i64,
                    category: (*category).into(),
                    image_url: None,
                })
                .await
                .map_err(|e| anyhow::anyhow!("demo product: {e}"))?;
            n += 1;
        }
    }
    let flash = app
        .shop
        .catalog
        .create(ProductDraft {
            name: "한정판 스니커즈 (플래시 세일)".into(),
            description: "오늘 단 30켤레".into(),
            price: 99_000,
            stock: 30,
            category: "shoes".into(),
            image_url: None,
        })
        .await
        .map_err(|e| anyhow::anyhow!("demo product: {e}"))?;
    let now = chrono::Utc::now();
    app.shop
        .coupons
        .create_campaign(CampaignDraft {
            name: "오픈 기념 10% (최대 5,000원)".into(),
            quantity: 100,
            discount_amount: None,
            discount_percent: Some(10),
            max_discount: Some(5_000),
            starts_at: now.to_rfc3339(),
            ends_at: (now + chrono::Duration::days(30)).to_rfc3339(),
        })
        .await
        .map_err(|e| anyhow::anyhow!("demo campaign: {e}"))?;
    println!(
        "demo shop: {} products, flash-sale item {} (stock 30), a 100-coupon campaign",
        n + 1,
        flash.id
    );
    Ok(())
}
