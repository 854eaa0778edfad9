//! The `Mailer` adapters: both pass the contract suite (SMTP against the fake SMTP server
//! of the testkit), and the SMTP one reports refusals, outages and bad configuration as
//! errors.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use surge_infra::mail::{RecordingMailer, SmtpConfig, SmtpMailer, RECORDING_MAILER_CAPACITY};
use surge_kernel::ports::{Mail, Mailer};
use surge_testkit::smtp::{FakeSmtp, Stage};

const FROM: &str = "Surge <no-reply@surge.local>";

fn smtp_mailer(url: &str) -> SmtpMailer {
    SmtpMailer::new(&SmtpConfig::new(url, FROM)).unwrap()
}

fn mail(to: &str, subject: &str) -> Mail {
    Mail {
        to: to.into(),
        subject: subject.into(),
        text: "본문입니다.\n두 번째 줄".into(),
    }
}

surge_testkit::mailer_contract!(recording_mailer, async { Some(RecordingMailer::new()) });

surge_testkit::mailer_contract!(smtp_mailer, async {
    let server = FakeSmtp::start().await;
    Some((smtp_mailer(&server.url()), server))
});

#[tokio::test]
async fn recording_mailer_keeps_the_latest_mails() {
    let rec = RecordingMailer::new();
    rec.send(&mail("a@example.com", "first")).await.unwrap();
    rec.send(&mail("b@example.com", "second")).await.unwrap();
    rec.send(&mail("a@example.com", "third")).await.unwrap();
    assert_eq!(rec.last_to("a@example.com").unwrap().subject, "third");
    assert_eq!(rec.last_to("c@example.com"), None);
    for i in 0..RECORDING_MAILER_CAPACITY {
        rec.send(&mail("bulk@example.com", &format!("bulk {i}")))
            .await
            .unwrap();
    }
    let sent = rec.sent();
    assert_eq!(sent.len(), RECORDING_MAILER_CAPACITY, "bounded");
    assert_eq!(sent[0].subject, "bulk 0", "the oldest are dropped first");
    rec.clear();
    assert!(rec.sent().is_empty());
}

#[tokio::test]
async fn smtp_message_has_sender_envelope_and_mime_headers() {
    let server = FakeSmtp::start().await;
    let mailer = smtp_mailer(&server.url());
    mailer
        .send(&mail("홍길동 <hong@example.com>", "환영합니다"))
        .await
        .unwrap();
    let got = server.received();
    assert_eq!(got.len(), 1);
    let m = &got[0];
    assert_eq!(m.from, "no-reply@surge.local", "envelope sender");
    assert_eq!(
        m.to,
        vec!["hong@example.com".to_owned()],
        "envelope recipient"
    );
    assert_eq!(m.header("From").unwrap(), FROM);
    let to = m.header("To").unwrap();
    assert!(to.contains("<hong@example.com>"), "To: {to}");
    assert_eq!(
        surge_testkit::smtp::decode_words(&to),
        "홍길동 <hong@example.com>"
    );
    assert_eq!(m.subject().unwrap(), "환영합니다");
    assert_eq!(m.text(), "본문입니다.\n두 번째 줄");
    let content_type = m.header("Content-Type").unwrap().to_ascii_lowercase();
    assert_eq!(content_type, "text/plain; charset=utf-8");
    for h in [
        "Date",
        "Message-ID",
        "MIME-Version",
        "Content-Transfer-Encoding",
    ] {
        assert!(m.header(h).is_some(), "{h} header in\n{}", m.raw());
    }
    assert!(m.raw().is_ascii(), "the wire format is 7-bit:\n{}", m.raw());
    assert_eq!(m.auth_user, None);
}

#[tokio::test]
async fn smtp_subject_cannot_inject_headers() {
    let server = FakeSmtp::start().await;
    let mailer = smtp_mailer(&server.url());
    let sent = mailer
        .send(&mail(
            "to@example.com",
            "hi\r\nBcc: evil@example.com\r\n\r\nbody",
        ))
        .await;
    sent.unwrap();
    let got = server.received();
    assert_eq!(got[0].to, vec!["to@example.com".to_owned()]);
    assert!(got[0].header("Bcc").is_none(), "{}", got[0].raw());
    assert_eq!(
        got[0].subject().unwrap(),
        "hi\r\nBcc: evil@example.com\r\n\r\nbody",
        "encoded, not interpreted"
    );
    assert_eq!(got[0].text(), "본문입니다.\n두 번째 줄");
}

#[tokio::test]
async fn smtp_refusals_are_errors_and_the_next_send_works() {
    let server = FakeSmtp::start().await;
    let mailer = smtp_mailer(&server.url());
    for (at, code) in [
        (Stage::Rcpt, 550),
        (Stage::Rcpt, 450),
        (Stage::Data, 554),
        (Stage::Data, 451),
    ] {
        server.reject_next(1, at, code);
        let err = mailer
            .send(&mail("to@example.com", "refused"))
            .await
            .unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains(&code.to_string()), "{at:?} {code}: {msg}");
        assert!(msg.contains("127.0.0.1"), "names the server: {msg}");
        mailer
            .send(&mail("to@example.com", &format!("after {code}")))
            .await
            .unwrap();
    }
    let subjects: Vec<String> = server
        .received()
        .iter()
        .map(|r| r.subject().unwrap())
        .collect();
    assert_eq!(
        subjects,
        ["after 550", "after 450", "after 554", "after 451"]
    );
}

/// lettre hands a used connection back to its pool in a task it spawns when the send
/// ends; on this single-threaded test runtime that task runs as soon as the test yields
/// (it awaits nothing but an uncontended lock), so no timing is involved.
async fn pool_takes_back() {
    for _ in 0..3 {
        tokio::task::yield_now().await;
    }
}

#[tokio::test]
async fn smtp_connections_are_reused() {
    let server = FakeSmtp::start().await;
    let mailer = smtp_mailer(&server.url());
    mailer.test_connection().await.unwrap();
    for i in 0..5 {
        pool_takes_back().await;
        mailer
            .send(&mail("to@example.com", &format!("n{i}")))
            .await
            .unwrap();
    }
    assert_eq!(server.received().len(), 5);
    assert_eq!(server.connections(), 1, "one pooled connection");
}

#[tokio::test]
async fn smtp_slow_reply_times_out_and_the_next_send_uses_a_fresh_connection() {
    let server = FakeSmtp::start().await;
    let mut cfg = SmtpConfig::new(server.url(), FROM);
    cfg.timeout_secs = 1;
    let mailer = SmtpMailer::new(&cfg).unwrap();
    mailer.send(&mail("to@example.com", "first")).await.unwrap();
    server.stall_next(1, Stage::Data, Duration::from_secs(3));
    let err = mailer
        .send(&mail("to@example.com", "late"))
        .await
        .unwrap_err();
    assert!(format!("{err:#}").contains("within 1 s"), "{err:#}");
    // The cut-off connection is not reused (even once lettre has handed it back to the
    // pool): the next send answers at once.
    pool_takes_back().await;
    let started = Instant::now();
    mailer.send(&mail("to@example.com", "next")).await.unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    let subjects: Vec<String> = server
        .received()
        .iter()
        .map(|r| r.subject().unwrap())
        .collect();
    // The late one did reach the server: a timeout means "maybe not sent".
    assert_eq!(subjects, ["first", "late", "next"]);
}

#[tokio::test]
async fn smtp_credentials_from_the_url() {
    let server = FakeSmtp::with_auth("mailer@surge.local", "p@ss:word/1").await;
    let port = server.addr().port();
    let good = smtp_mailer(&format!(
        "smtp://mailer%40surge.local:p%40ss%3Aword%2F1@127.0.0.1:{port}"
    ));
    good.send(&mail("to@example.com", "authed")).await.unwrap();
    assert_eq!(
        server.received()[0].auth_user.as_deref(),
        Some("mailer@surge.local")
    );

    let wrong_url = format!("smtp://mailer%40surge.local:wrong-secret@127.0.0.1:{port}");
    let wrong = smtp_mailer(&wrong_url);
    let err = wrong.send(&mail("to@example.com", "x")).await.unwrap_err();
    let msg = format!("{err:#}");
    assert!(msg.contains("535"), "{msg}");
    assert!(
        !msg.contains("wrong-secret"),
        "the password is not shown: {msg}"
    );
    assert!(wrong.test_connection().await.is_err());
    let shown = format!("{wrong:?} {:?}", SmtpConfig::new(wrong_url, FROM));
    assert!(!shown.contains("wrong-secret"), "{shown}");

    let anonymous = smtp_mailer(&server.url());
    assert!(
        anonymous.send(&mail("to@example.com", "x")).await.is_err(),
        "the server requires AUTH"
    );
    assert_eq!(server.received().len(), 1);
}

#[tokio::test]
async fn smtp_server_down_is_an_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let mailer = smtp_mailer(&format!("smtp://127.0.0.1:{port}"));
    let err = mailer.send(&mail("to@example.com", "x")).await.unwrap_err();
    assert!(format!("{err:#}").contains(&port.to_string()), "{err:#}");
    assert!(mailer.test_connection().await.is_err());
}

#[tokio::test]
async fn smtp_silent_server_times_out() {
    // Accepts connections and never says a word.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hold = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            open.push(s);
        }
    });
    let mut cfg = SmtpConfig::new(format!("smtp://127.0.0.1:{port}"), FROM);
    cfg.timeout_secs = 1;
    let mailer = SmtpMailer::new(&cfg).unwrap();
    let started = Instant::now();
    let sent = tokio::time::timeout(
        Duration::from_secs(10),
        mailer.send(&mail("to@example.com", "x")),
    )
    .await
    .expect("the configured timeout applies");
    assert!(sent.is_err());
    assert!(started.elapsed() < Duration::from_secs(5));
    hold.abort();
}

#[tokio::test]
async fn smtp_bad_configuration_is_an_error() {
    for url in [
        "",
        "not a url",
        "http://127.0.0.1:25",
        "smtp://127.0.0.1:25?tls=bogus",
    ] {
        let err = SmtpMailer::new(&SmtpConfig::new(url, FROM)).unwrap_err();
        assert!(format!("{err:#}").contains("SMTP URL"), "{url:?}: {err:#}");
    }
    for from in ["", "Surge", "no-reply@"] {
        let err = SmtpMailer::new(&SmtpConfig::new("smtp://127.0.0.1:25", from)).unwrap_err();
        assert!(format!("{err:#}").contains("sender"), "{from:?}: {err:#}");
    }
    // lettre logs in only when the URL has a password: a user alone would send
    // unauthenticated, so it is refused (and the error does not print a password).
    for url in [
        "smtp://user@smtp.example.com:587?tls=required",
        "smtps://user:@smtp.example.com:465",
        "smtps://us%40er@smtp.example.com",
    ] {
        let err = SmtpMailer::new(&SmtpConfig::new(url, FROM)).unwrap_err();
        assert!(
            format!("{err:#}").contains("no password"),
            "{url:?}: {err:#}"
        );
    }
    // The TLS variants build (they connect only when sending).
    for url in [
        "smtps://user:pass@smtp.example.com:465",
        "smtp://user:pass@smtp.example.com:587?tls=required",
        "smtp://smtp.example.com?tls=opportunistic",
    ] {
        SmtpMailer::new(&SmtpConfig::new(url, FROM)).unwrap();
    }
}

#[test]
fn smtp_mailer_outside_a_runtime_is_an_error() {
    let err = SmtpMailer::new(&SmtpConfig::new("smtp://127.0.0.1:25", FROM)).unwrap_err();
    assert!(err.to_string().contains("Tokio runtime"), "{err}");
}

#[test]
fn smtp_config_deserializes_with_a_default_timeout() {
    let cfg: SmtpConfig = serde_json::from_value(serde_json::json!({
        "url": "smtp://u:secret@127.0.0.1:2525",
        "from": FROM,
    }))
    .unwrap();
    assert_eq!(cfg.timeout_secs, 30);
    assert!(!format!("{cfg:?}").contains("secret"));
}
