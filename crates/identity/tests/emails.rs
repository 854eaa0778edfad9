//! An address the mailer refuses never gets into the user table: its owner's mails
//! (tickets, receipts) would fail on every retry.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use surge_testkit::serde_json::json;
use surge_testkit::{assert_problem, matrix};

matrix! {
    async fn signup_refuses_addresses_the_mailer_refuses(app) {
        for bad in ["x,y<z>@audit.test", "a..b@example.com", "kim <kim@example.com>", "a.@example.com"] {
            let (s, b) = app.post("/api/v1/identity/signup", None,
                json!({"email": bad, "password": "password-1234", "nickname": "mailfan"})).await;
            assert_problem(s, &b, 422, "invalid_email");
        }
        // What the mailer takes still signs up, and can be mailed.
        let (s, b) = app.post("/api/v1/identity/signup", None,
            json!({"email": "o'brien+tix@mail.example.com", "password": "password-1234", "nickname": "mailfan"})).await;
        assert_eq!(s.as_u16(), 201, "{b}");
        if let Some(mailer) = &app.mailer {
            use surge_kernel::ports::{Mail, Mailer};
            mailer.send(&Mail {
                to: b["email"].as_str().unwrap().to_owned(),
                subject: "hi".into(),
                text: "hello".into(),
            }).await.unwrap();
        }
    }
}
