//! The `ChatNotifier` contract: [`chat_contract!`](crate::chat_contract).

use surge_infra::chat::RecordingChat;
use surge_kernel::ports::ChatNotifier;

/// One test per case of the `ChatNotifier` contract for the [`ChatFixture`] `$make` gives
/// (see the [module doc](crate::contracts)).
#[macro_export]
macro_rules! chat_contract {
    ($name:ident, $make:expr $(, after = $after:path)? $(,)?) => {
        $crate::__contract_tests!(chat, $name, $make, [$($after)?], [
            control_characters_arrive_as_written,
            a_blank_message_is_refused_and_nothing_arrives,
            an_outage_is_an_error_and_the_retry_arrives_once,
            concurrent_posts_all_arrive,
        ]);
    };
}

/// The far end of a `ChatNotifier`: the channel as its readers see it, and a way to make
/// posts fail.
#[async_trait::async_trait]
pub trait ChatChannel: Send + Sync {
    /// Every message the channel shows so far, oldest first, as its readers see it: for
    /// Slack, the wire text with `&amp;`, `&lt;` and `&gt;` decoded (it should also check
    /// that the wire text has no raw `<` or `>` and no other `&`); for
    /// [`RecordingChat`], the text as given (it stores it unescaped).
    async fn seen(&self) -> Vec<String>;
    /// Makes the next `n` posts fail (an outage, a refusal).
    async fn fail_next(&self, n: usize);
}

#[async_trait::async_trait]
impl ChatChannel for RecordingChat {
    async fn seen(&self) -> Vec<String> {
        self.posted()
    }

    async fn fail_next(&self, n: usize) {
        RecordingChat::fail_next(self, n);
    }
}

/// A chat notifier and its far end, which sees only the case's posts while it runs.
pub trait ChatFixture: Send + Sync {
    fn notifier(&self) -> &dyn ChatNotifier;
    fn channel(&self) -> &dyn ChatChannel;
}

/// The recording chat is its own far end.
impl ChatFixture for RecordingChat {
    fn notifier(&self) -> &dyn ChatNotifier {
        self
    }

    fn channel(&self) -> &dyn ChatChannel {
        self
    }
}

/// `(notifier, channel)`.
impl<N: ChatNotifier, C: ChatChannel> ChatFixture for (N, C) {
    fn notifier(&self) -> &dyn ChatNotifier {
        &self.0
    }

    fn channel(&self) -> &dyn ChatChannel {
        &self.1
    }
}

fn tag() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// How many times `text` shows in the channel.
async fn arrived(channel: &dyn ChatChannel, text: &str) -> usize {
    channel
        .seen()
        .await
        .into_iter()
        .filter(|m| m == text)
        .count()
}

/// Korean text with Slack's control characters arrives exactly as written: no mention,
/// no link, no entity decoded twice.
pub async fn control_characters_arrive_as_written(fx: &dyn ChatFixture) {
    let tag = tag();
    let korean = format!(
        "[Surge] 주문 <{tag}> 접수: 초코파이 & 우유 → 12,000원 > 10,000원 🙂\n\
         둘째 줄: <@U012AB3CD> <!channel> <https://evil.example|공식 링크> \
         &amp; &lt;b&gt; &#60; R&D \"따옴표\" 'x'"
    );
    fx.notifier().post(&korean).await.unwrap();
    assert_eq!(
        arrived(fx.channel(), &korean).await,
        1,
        "arrives once, intact"
    );
    assert_eq!(fx.channel().seen().await.len(), 1, "and nothing else");
}

pub async fn a_blank_message_is_refused_and_nothing_arrives(fx: &dyn ChatFixture) {
    for blank in ["", " ", "\n\t "] {
        assert!(
            fx.notifier().post(blank).await.is_err(),
            "blank text {blank:?} is refused"
        );
    }
    assert_eq!(
        fx.channel().seen().await,
        Vec::<String>::new(),
        "nothing for blank texts"
    );
}

/// An outage is an error; the message does not arrive, and posting works afterwards.
pub async fn an_outage_is_an_error_and_the_retry_arrives_once(fx: &dyn ChatFixture) {
    let c = fx.notifier();
    let flaky = format!("다시 시도 {}: 재고 < 10 & 대기열 > 100", tag());
    fx.channel().fail_next(2).await;
    assert!(c.post(&flaky).await.is_err(), "first failure surfaces");
    assert!(c.post(&flaky).await.is_err(), "second failure surfaces");
    assert_eq!(
        arrived(fx.channel(), &flaky).await,
        0,
        "a failed post shows nothing"
    );
    c.post(&flaky).await.unwrap();
    assert_eq!(
        arrived(fx.channel(), &flaky).await,
        1,
        "the retry arrives once"
    );
}

pub async fn concurrent_posts_all_arrive(fx: &dyn ChatFixture) {
    let tag = tag();
    let many: Vec<String> = (0..10).map(|i| format!("알림 {i} <{tag}>")).collect();
    for r in futures::future::join_all(many.iter().map(|m| fx.notifier().post(m))).await {
        r.unwrap();
    }
    for m in &many {
        assert_eq!(arrived(fx.channel(), m).await, 1, "{m:?} arrives once");
    }
    assert_eq!(
        fx.channel().seen().await.len(),
        many.len(),
        "exactly the successful posts arrived"
    );
}
