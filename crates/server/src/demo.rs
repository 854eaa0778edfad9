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
    println!(
        "demo data: {} new accounts (password {DEMO_PASSWORD:?}): admin@surge.local, minji@surge.local, junho@surge.local, mentor.kim@surge.local",
        created.len()
    );
    Ok(())
}
