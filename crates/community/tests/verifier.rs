//! Mission proofs checked by the configured verifier (`[community.verifier]`) through the
//! real server and the real OpenAI-compatible adapter, against a local fake of the
//! chat-completions API, on every backend: approve decides the proof and pays its
//! points, reject sends it back to the user (who may try again the same day), uncertain
//! and an unreachable verifier leave it in the admins' queue with a note, and each proof
//! is looked at once.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::*;
use surge_testkit::config::VerifierSettings;
use surge_testkit::reqwest::StatusCode;
use surge_testkit::serde_json::{json, Value};
use surge_testkit::{Backend, Session, TestApp};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const FIXTURE: &str = include_str!("../../testkit/fixtures/openai/chat_completion_verdict.json");

/// Answers by the mission in the prompt: MORNING approve, AFTERNOON reject, EVENING
/// uncertain; every request 503 while `down`.
struct Vision {
    down: Arc<AtomicBool>,
}

impl Respond for Vision {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        if self.down.load(Ordering::SeqCst) {
            return ResponseTemplate::new(503).set_body_string("overloaded");
        }
        let body = String::from_utf8_lossy(&req.body);
        let verdict = if body.contains("MORNING") {
            json!({"verdict": "approve", "reason": "하늘이 잘 보여요"})
        } else if body.contains("AFTERNOON") {
            json!({"verdict": "reject", "reason": "사진에 하늘이 보이지 않아요"})
        } else {
            json!({"verdict": "uncertain", "reason": "너무 어두워요"})
        };
        let mut v: Value = serde_json::from_str(FIXTURE).unwrap();
        v["choices"][0]["message"]["content"] = verdict.to_string().into();
        ResponseTemplate::new(200).set_body_json(v)
    }
}

surge_testkit::on_every_backend!(the_verifier_decides_or_leaves_proofs_to_the_admins);

async fn history(app: &TestApp, who: &Session, id: &str) -> Value {
    let (s, h) = app
        .get(
            &format!("/api/v1/community/mission-histories/{id}"),
            Some(&who.access),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{h}");
    h
}

/// The history once `done` holds for it (polled every 20 ms, up to the eventually
/// limit).
async fn history_when(
    app: &TestApp,
    who: &Session,
    id: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    surge_testkit::eventually_some(|| async {
        let h = history(app, who, id).await;
        done(&h).then_some(h)
    })
    .await
}

async fn balance(app: &TestApp, who: &Session) -> i64 {
    let (s, me) = app
        .get("/api/v1/community/points/me", Some(&who.access))
        .await;
    assert_eq!(s, StatusCode::OK, "{me}");
    me["balance"].as_i64().unwrap()
}

async fn verifier_calls(server: &MockServer) -> usize {
    server.received_requests().await.unwrap().len()
}

async fn the_verifier_decides_or_leaves_proofs_to_the_admins(backend: Backend) {
    let server = MockServer::start().await;
    let down = Arc::new(AtomicBool::new(false));
    Mock::given(method("POST"))
        .and(path("/v1/chat/completions"))
        .respond_with(Vision { down: down.clone() })
        .mount(&server)
        .await;
    let base_url = format!("{}/v1", server.uri());
    let Some(app) = TestApp::spawn_on(backend, move |c| {
        c.community.verifier = Some(VerifierSettings {
            base_url,
            model: "gpt-4o-mini".into(),
            api_key: "sk-test".to_owned().into(),
            timeout_ms: 5_000,
            attempts: 2,
            retry_first_delay_ms: 10,
        });
    })
    .await
    else {
        return;
    };
    let admin = app.admin("verifier-admin@example.com").await;
    let user = app.user("sky@example.com", "하늘러").await;
    mission(&app, &admin, "MORNING", 30).await;
    mission(&app, &admin, "AFTERNOON", 20).await;
    mission(&app, &admin, "EVENING", 10).await;

    // Approved by the verifier: points paid, nothing left for the admins.
    let morning = id_of(&proven_mission(&app, &user, "MORNING").await);
    let h = history_when(&app, &user, &morning, |h| h["status"] != "PENDING_REVIEW").await;
    assert_eq!(h["status"], "APPROVED", "{h}");
    assert_eq!(h["decided_by"], "VERIFIER", "{h}");
    assert_eq!(balance(&app, &user).await, 30);
    assert_eq!(verifier_calls(&server).await, 1);

    // Rejected with the verifier's reason; the user tries again while it is down: the
    // proof waits for an admin, with a note, and the admin's approval pays.
    let afternoon = id_of(&proven_mission(&app, &user, "AFTERNOON").await);
    let h = history_when(&app, &user, &afternoon, |h| h["status"] != "PENDING_REVIEW").await;
    assert_eq!(h["status"], "REJECTED", "{h}");
    assert_eq!(h["reject_reason"], "사진에 하늘이 보이지 않아요", "{h}");
    assert_eq!(balance(&app, &user).await, 30);
    down.store(true, Ordering::SeqCst);
    let proof_path = format!("/api/v1/community/mission-histories/{afternoon}/proof");
    let (s, p) = multipart(&app, &proof_path, &user.access, photo()).await;
    assert_eq!(s, StatusCode::OK, "{p}");
    assert_eq!(p["status"], "PENDING_REVIEW");
    assert!(p["reject_reason"].is_null(), "{p}");
    let h = history_when(&app, &user, &afternoon, |h| h["verifier_note"].is_string()).await;
    assert_eq!(h["status"], "PENDING_REVIEW", "{h}");
    assert!(
        h["verifier_note"].as_str().unwrap().contains("no verdict"),
        "{h}"
    );
    // One call for the first photo, two attempts for the second.
    assert_eq!(verifier_calls(&server).await, 1 + 1 + 2);
    down.store(false, Ordering::SeqCst);

    // Uncertain: left to the admins with the verifier's doubt.
    let evening = id_of(&proven_mission(&app, &user, "EVENING").await);
    let h = history_when(&app, &user, &evening, |h| h["verifier_note"].is_string()).await;
    assert_eq!(h["status"], "PENDING_REVIEW", "{h}");
    assert!(
        h["verifier_note"]
            .as_str()
            .unwrap()
            .contains("너무 어두워요"),
        "{h}"
    );
    assert_eq!(verifier_calls(&server).await, 5);

    let (s, q) = app
        .get(
            "/api/v1/community/admin/mission-proofs",
            Some(&admin.access),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{q}");
    let queued: Vec<&str> = q["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(queued, vec![afternoon.as_str(), evening.as_str()], "{q}");
    let (s, b) = app
        .post(
            &format!("/api/v1/community/admin/mission-proofs/{afternoon}/approve"),
            Some(&admin.access),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{b}");
    assert_eq!(b["decided_by"], "ADMIN", "{b}");
    assert_eq!(balance(&app, &user).await, 50);
    // Nothing more was asked of the verifier (no redelivery reached it).
    assert_eq!(verifier_calls(&server).await, 5);
}
