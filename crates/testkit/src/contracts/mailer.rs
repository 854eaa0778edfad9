//! The `Mailer` contract: [`mailer_contract!`](crate::mailer_contract).

use surge_infra::mail::RecordingMailer;
use surge_kernel::ports::{Mail, Mailer};

/// One test per case of the `Mailer` contract for the [`MailerFixture`] `$make` gives
/// (see the [module doc](crate::contracts)).
#[macro_export]
macro_rules! mailer_contract {
    ($name:ident, $make:expr $(, after = $after:path)? $(,)?) => {
        $crate::__contract_tests!(mailer, $name, $make, [$($after)?], [
            korean_text_arrives_intact,
            ascii_lines_starting_with_a_dot_survive,
            mostly_ascii_text_with_some_korean_arrives_intact,
            an_invalid_recipient_is_refused_and_nothing_goes_out,
            an_outage_is_an_error_and_the_retry_delivers_once,
            concurrent_sends_all_arrive,
        ]);
    };
}

/// The far end of a `Mailer`: what arrived, and a way to make sends fail.
#[async_trait::async_trait]
pub trait Inbox: Send + Sync {
    /// Every mail delivered so far, oldest first, once per recipient, decoded.
    async fn delivered(&self) -> Vec<Mail>;
    /// Makes the next `n` sends fail (an outage, a server refusing mail).
    async fn fail_next(&self, n: usize);
}

#[async_trait::async_trait]
impl Inbox for RecordingMailer {
    async fn delivered(&self) -> Vec<Mail> {
        self.sent()
    }

    async fn fail_next(&self, n: usize) {
        RecordingMailer::fail_next(self, n);
    }
}

/// A mailer and its far end. The inbox must start empty of the case's mails.
pub trait MailerFixture: Send + Sync {
    fn mailer(&self) -> &dyn Mailer;
    fn inbox(&self) -> &dyn Inbox;
}

/// The recording mailer is its own far end.
impl MailerFixture for RecordingMailer {
    fn mailer(&self) -> &dyn Mailer {
        self
    }

    fn inbox(&self) -> &dyn Inbox {
        self
    }
}

/// `(mailer, inbox)`.
impl<M: Mailer, I: Inbox> MailerFixture for (M, I) {
    fn mailer(&self) -> &dyn Mailer {
        &self.0
    }

    fn inbox(&self) -> &dyn Inbox {
        &self.1
    }
}

/// A tag for the case's recipients and subjects.
struct Tag(String);

impl Tag {
    fn new() -> Self {
        Self(uuid::Uuid::new_v4().simple().to_string())
    }

    fn to(&self, name: &str) -> String {
        format!("{name}-{}@example.com", self.0)
    }
}

/// The mails delivered to `to`.
async fn arrived(inbox: &dyn Inbox, to: &str) -> Vec<Mail> {
    inbox
        .delivered()
        .await
        .into_iter()
        .filter(|m| m.to == to)
        .collect()
}

/// Sends `mail` and checks it arrives once, intact.
async fn delivered_intact(fx: &dyn MailerFixture, mail: &Mail) {
    fx.mailer().send(mail).await.unwrap();
    assert_eq!(
        arrived(fx.inbox(), &mail.to).await,
        vec![mail.clone()],
        "delivered once, subject and text intact"
    );
}

/// Korean text survives, long lines and a long subject included.
pub async fn korean_text_arrives_intact(fx: &dyn MailerFixture) {
    let tag = Tag::new();
    let korean = Mail {
        to: tag.to("korean"),
        subject: format!(
            "[Surge] 주문이 접수되었습니다: 한정판 초코파이 2개, 결제 금액 12,000원 ({})",
            tag.0
        ),
        text: format!(
            "안녕하세요, 홍길동님!\n\n주문 번호 {}의 결제가 완료되었습니다. \
             상품은 영업일 기준 2~3일 안에 발송됩니다. 문의는 고객센터로 연락해 주세요. \
             감사합니다 — Surge 드림 🙂\n\n.\n.로 시작하는 줄\n",
            tag.0
        ),
    };
    delivered_intact(fx, &korean).await;
}

/// Plain ASCII goes unencoded: lines that start with "." must survive SMTP.
pub async fn ascii_lines_starting_with_a_dot_survive(fx: &dyn MailerFixture) {
    let ascii = Mail {
        to: Tag::new().to("ascii"),
        subject: "Your code".into(),
        text: ".\n..\n.hidden\nend.\n\nno trailing newline".into(),
    };
    delivered_intact(fx, &ascii).await;
}

/// Mostly ASCII with a little Korean (SMTP encodes it as quoted-printable).
pub async fn mostly_ascii_text_with_some_korean_arrives_intact(fx: &dyn MailerFixture) {
    let mixed = Mail {
        to: Tag::new().to("mixed"),
        subject: "Order 1234 confirmed - 감사합니다".into(),
        text: "Your order 1234 is confirmed and will ship within two business days; \
               this line is long enough to need a soft line break = and keeps going.\n\
               Thank you, 고객님!\n  indented line with trailing spaces   \n"
            .into(),
    };
    delivered_intact(fx, &mixed).await;
}

pub async fn an_invalid_recipient_is_refused_and_nothing_goes_out(fx: &dyn MailerFixture) {
    let tag = Tag::new();
    for bad in [
        "",
        "not an address",
        "a@b@c",
        "<@>",
        "x@example.com\r\nBcc: y@example.com",
    ] {
        let mail = Mail {
            to: bad.into(),
            subject: format!("bad {}", tag.0),
            text: "x".into(),
        };
        assert!(
            fx.mailer().send(&mail).await.is_err(),
            "recipient {bad:?} is refused"
        );
    }
    assert!(
        !fx.inbox()
            .delivered()
            .await
            .iter()
            .any(|m| m.subject == format!("bad {}", tag.0)),
        "nothing was delivered for invalid recipients"
    );
}

/// An outage is an error; the mail is not delivered, and sending works afterwards.
pub async fn an_outage_is_an_error_and_the_retry_delivers_once(fx: &dyn MailerFixture) {
    let m = fx.mailer();
    let flaky = Mail {
        to: Tag::new().to("flaky"),
        subject: "다시 시도".into(),
        text: "재시도 후 도착".into(),
    };
    fx.inbox().fail_next(2).await;
    assert!(m.send(&flaky).await.is_err(), "first failure surfaces");
    assert!(m.send(&flaky).await.is_err(), "second failure surfaces");
    assert!(
        arrived(fx.inbox(), &flaky.to).await.is_empty(),
        "a failed send delivers nothing"
    );
    m.send(&flaky).await.unwrap();
    assert_eq!(
        arrived(fx.inbox(), &flaky.to).await,
        vec![flaky.clone()],
        "the retry delivers once"
    );
}

pub async fn concurrent_sends_all_arrive(fx: &dyn MailerFixture) {
    let tag = Tag::new();
    let many: Vec<Mail> = (0..10)
        .map(|i| Mail {
            to: tag.to(&format!("many{i}")),
            subject: format!("알림 {i}"),
            text: format!("본문 {i}"),
        })
        .collect();
    let results = futures::future::join_all(many.iter().map(|mail| fx.mailer().send(mail))).await;
    for r in results {
        r.unwrap();
    }
    for mail in &many {
        assert_eq!(arrived(fx.inbox(), &mail.to).await, vec![mail.clone()]);
    }
}
