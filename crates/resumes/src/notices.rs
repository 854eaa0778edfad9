//! Tells owners what happened to their resumes: written, failed, liked, commented on.
//! Consumes the module's outbox events and sends one notification per event through the
//! Notifier port (claimed first; a notification lost to a crash right after the claim
//! is not sent again, as the kernel's rule for effects that may be lost says).

use std::sync::Arc;

use async_trait::async_trait;
use surge_kernel::events::EventEnvelope;
use surge_kernel::ports::{notify_once, EventHandler, NewNotification, Nicknames, Notifier};
use uuid::Uuid;

use crate::comments::COMMENTED;
use crate::deps::Deps;
use crate::likes::LIKED;
use crate::work::{WRITE_FAILED, WRITTEN};

pub const CONSUMER: &str = "resumes.notices";
pub const TOPICS: &[&str] = &[WRITTEN, WRITE_FAILED, LIKED, COMMENTED];

pub(crate) struct Notices {
    pub deps: Arc<Deps>,
    pub notifier: Arc<dyn Notifier>,
}

fn user(v: &serde_json::Value) -> Option<Uuid> {
    v.as_str().and_then(|s| s.parse().ok())
}

impl Notices {
    async fn notice(&self, event: &EventEnvelope) -> Option<NewNotification> {
        let p = &event.payload;
        let data = serde_json::json!({"resume_id": p["resume_id"]});
        let who = async |key: &str| match user(&p[key]) {
            Some(id) => Nicknames::after_write(self.deps.users.as_ref(), &[id])
                .await
                .of(id),
            None => String::new(),
        };
        let (kind, title, body) = match event.topic.as_str() {
            WRITTEN if p["origin"] == "AI_EDIT" => (
                "resume_edited",
                "이력서 수정 완료",
                format!("요청하신 AI 수정이 버전 {}로 저장되었습니다.", p["version"]),
            ),
            WRITTEN => (
                "resume_ready",
                "이력서 완성",
                "GitHub 활동으로 이력서를 만들었습니다. 확인하고 공개해 보세요.".to_owned(),
            ),
            WRITE_FAILED => (
                "resume_failed",
                if p["edit"] == true {
                    "이력서 수정 실패"
                } else {
                    "이력서 생성 실패"
                },
                format!(
                    "{} 오늘 사용량은 돌려드렸습니다.",
                    p["reason"].as_str().unwrap_or_default()
                ),
            ),
            LIKED => (
                "resume_liked",
                "좋아요",
                format!("{}님이 이력서를 좋아합니다.", who("user_id").await),
            ),
            COMMENTED => (
                "resume_commented",
                "새 댓글",
                format!(
                    "{}님: {}",
                    who("author_id").await,
                    p["excerpt"].as_str().unwrap_or_default()
                ),
            ),
            _ => return None,
        };
        Some(NewNotification {
            kind: kind.into(),
            title: title.into(),
            body,
            data,
        })
    }
}

#[async_trait]
impl EventHandler for Notices {
    async fn handle(&self, event: &EventEnvelope) -> anyhow::Result<()> {
        let Some(owner) = user(&event.payload["owner_id"]) else {
            return Ok(());
        };
        let Some(n) = self.notice(event).await else {
            return Ok(());
        };
        let now = self.deps.clock.now_ms();
        notify_once(
            &self.deps.db,
            CONSUMER,
            event,
            now,
            self.notifier.as_ref(),
            owner,
            n,
        )
        .await
    }
}
