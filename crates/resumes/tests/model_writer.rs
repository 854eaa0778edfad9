//! Resumes written by the configured model through the real adapters: the GitHub REST
//! adapter against a local fake GitHub, the OpenAI-compatible adapter against a local
//! fake of that API. The model words the resume; links, stars and commit counts stay
//! the host's. An AI edit lands as the next version; a refused edit keeps the resume and
//! gives the use back; answers of the wrong shape are tried again with backoff, then
//! the generation fails with the use given back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use surge_testkit::external::code_hosts::{GitHubFake, LOGIN, README_PHRASE};
use surge_testkit::external::llms::OpenAiFake;
use surge_testkit::reqwest::StatusCode;
use surge_testkit::serde_json::json;
use surge_testkit::{eventually_some, Backend, TestApp};

surge_testkit::on_every_backend!(
    the_model_writes_from_github_facts_and_edits_as_asked,
    wrong_answers_are_retried_then_the_generation_fails_with_the_use_back
);

async fn spawn(backend: Backend, github: &GitHubFake, llm: &OpenAiFake) -> Option<TestApp> {
    let (g, l) = (github.config(), llm.config());
    TestApp::spawn_on(backend, move |c| {
        c.resumes.github = Some(g);
        c.resumes.llm = Some(l);
    })
    .await
}

async fn the_model_writes_from_github_facts_and_edits_as_asked(backend: Backend) {
    let (github, llm) = (GitHubFake::start().await, OpenAiFake::start().await);
    let Some(app) = spawn(backend, &github, &llm).await else {
        return;
    };
    let owner = app.user("model@example.com", "모델").await;
    llm.answer_with(
        json!({"summary": "트랜잭션 아웃박스로 주문을 지키는 백엔드 개발자", "skills": ["Rust", "SQL"],
            "projects": [
                {"name": "surge", "url": "https://evil.example/surge", "description": "모듈형 Rust 백엔드", "stars": 99999},
                {"name": "invented", "url": "https://github.com/hana-dev/invented", "description": "없는 저장소"}],
            "experience": ["사내 결제 서버를 Rust로 옮김"]})
        .to_string(),
    );
    let (s, r) = ask(&app, &owner, LOGIN).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{r}");
    let id = r["id"].as_str().unwrap().to_owned();
    let r = settled(&app, &owner, &id).await;
    assert_eq!(r["status"], "READY", "{r}");
    assert!(
        r["writer"]
            .as_str()
            .unwrap()
            .starts_with("model:gpt-4o-mini"),
        "{r}"
    );
    assert_eq!(r["ai_written"], true);
    let projects = r["sections"]["projects"].as_array().unwrap();
    assert_eq!(
        projects.len(),
        1,
        "a project with no repository behind it is dropped: {r}"
    );
    assert_eq!(
        projects[0]["url"], "https://github.com/hana-dev/surge",
        "the host's link, not the model's"
    );
    assert_eq!(
        projects[0]["stars"], 42,
        "the host's stars, not the model's"
    );
    assert_eq!(
        r["sections"]["experience"][0]["description"],
        "사내 결제 서버를 Rust로 옮김"
    );

    // The model was given the facts the host has: the README, the login, the brief.
    let asked = llm.requests().await;
    let prompt = asked[0]["messages"][1]["content"].as_str().unwrap();
    assert!(
        prompt.contains(README_PHRASE) && prompt.contains(LOGIN) && prompt.contains("BACKEND"),
        "{prompt}"
    );
    assert_eq!(asked[0]["response_format"]["type"], "json_object");
    assert!(github.requests() > 0);

    // An AI edit: the next version, the instruction kept; the host's numbers stay.
    llm.answer_with(
        json!({"summary": "짧게: 백엔드 개발자", "projects": [{"name": "surge", "description": "짧게", "stars": 1}]})
            .to_string(),
    );
    let path = format!("/api/v1/resumes/{id}");
    let (s, e) = app
        .post(
            &format!("{path}/edit"),
            Some(&owner.access),
            json!({"instruction": "요약을 짧게"}),
        )
        .await;
    assert_eq!(
        (s, e["status"].as_str()),
        (StatusCode::ACCEPTED, Some("EDITING")),
        "{e}"
    );
    assert_eq!(
        e["version"], 1,
        "the current version stays readable while the edit runs"
    );
    let r = settled(&app, &owner, &id).await;
    assert_eq!(
        (r["status"].as_str(), r["version"].as_i64()),
        (Some("READY"), Some(2)),
        "{r}"
    );
    assert_eq!(r["sections"]["summary"], "짧게: 백엔드 개발자");
    assert_eq!(r["sections"]["projects"][0]["stars"], 42);
    let (_, versions) = app
        .get(&format!("{path}/versions"), Some(&owner.access))
        .await;
    assert_eq!(versions["items"][0]["origin"], "AI_EDIT");
    assert_eq!(versions["items"][0]["instruction"], "요약을 짧게");
    assert_eq!(used(&app, &owner).await, 2);
    app.eventually(|| async {
        notification_kinds(&app, &owner)
            .await
            .contains(&"resume_edited".to_owned())
    })
    .await;

    // The model refuses (400): the resume stays as it was, the use is given back.
    llm.fail_next(3, 400);
    let (s, e) = app
        .post(
            &format!("{path}/edit"),
            Some(&owner.access),
            json!({"instruction": "영어로"}),
        )
        .await;
    assert_eq!(s, StatusCode::ACCEPTED, "{e}");
    let r = settled(&app, &owner, &id).await;
    assert_eq!(
        (r["status"].as_str(), r["version"].as_i64()),
        (Some("READY"), Some(2)),
        "{r}"
    );
    assert!(r["failure"].as_str().unwrap().contains("refused"), "{r}");
    assert_eq!(r["sections"]["summary"], "짧게: 백엔드 개발자");
    assert_eq!(
        used(&app, &owner).await,
        2,
        "the refused edit gave its use back"
    );
    app.eventually(|| async {
        notification_kinds(&app, &owner)
            .await
            .contains(&"resume_failed".to_owned())
    })
    .await;
}

async fn wrong_answers_are_retried_then_the_generation_fails_with_the_use_back(backend: Backend) {
    let (github, llm) = (GitHubFake::start().await, OpenAiFake::start().await);
    let Some(app) = spawn(backend, &github, &llm).await else {
        return;
    };
    let owner = app.user("retry@example.com", "재시도").await;
    llm.answer_with("I cannot write resumes today.");
    let (s, r) = ask(&app, &owner, LOGIN).await;
    assert_eq!(s, StatusCode::ACCEPTED, "{r}");
    let id = r["id"].as_str().unwrap().to_owned();
    // Each retry waits longer (5 s, 10 s, 20 s): move the clock on until it gives up.
    let r = eventually_some(|| async {
        app.clock.advance_secs(30);
        let (_, r) = app
            .get(&format!("/api/v1/resumes/{id}"), Some(&owner.access))
            .await;
        (r["status"] == "FAILED").then_some(r)
    })
    .await;
    assert!(
        r["failure"].as_str().unwrap().contains("not a resume"),
        "{r}"
    );
    let completions = llm.requests().await.len();
    assert_eq!(
        completions, 4,
        "four attempts, each one completion (the answers were 200s)"
    );
    assert_eq!(used(&app, &owner).await, 0);
}
