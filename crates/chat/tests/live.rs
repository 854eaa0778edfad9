//! Live messages over WebSocket: stored before acknowledged with a gap-free seq, sent
//! once however often resent, replayed exactly after a reconnect, fanned out across
//! two instances in order; limits answer with error frames; a dead session closes
//! the socket.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashSet;

use common::*;
use futures::{SinkExt, StreamExt};
use surge_testkit::serde_json::{json, Value};
use surge_testkit::{matrix, Session, TestApp};
use tokio_tungstenite::tungstenite::Message;

fn generous(c: &mut surge_testkit::Config) {
    c.chat_sends_per_second = 10_000;
    c.chat_send_burst = 10_000;
}

async fn members(app: &TestApp, n: usize, room_id: &str) -> Vec<Session> {
    let users = app.quick_users(n).await;
    for u in &users {
        join(app, u, room_id).await;
    }
    users
}

async fn stored_messages(app: &TestApp, room_id: &str) -> i64 {
    app.stored_i64("chat_rooms", "last_seq", room_id).await
}

matrix! {
    #[config(generous)]
    async fn fifty_clients_on_two_instances_each_get_every_message_once_in_order(app) {
        const CLIENTS: usize = 50;
        const PER_CLIENT: usize = 20;
        const TOTAL: i64 = (CLIENTS * PER_CLIENT) as i64;
        let admin = app.admin("chat-admin@example.com").await;
        let room_id = room(&app, &admin, "전국 날씨").await;
        let users = members(&app, CLIENTS, &room_id).await;
        let other = app.another_server().await;
        let mut sockets = Vec::new();
        for (i, u) in users.iter().enumerate() {
            let base = if i % 2 == 0 { app.base.clone() } else { other.base.clone() };
            let mut ws = connect(&base, &u.access).await;
            ws_join(&mut ws, &room_id, None).await;
            sockets.push(ws);
        }
        // Every client sends its share at once while reading everything.
        let started = std::time::Instant::now();
        let runs = sockets.into_iter().enumerate().map(|(i, ws)| {
            let room_id = room_id.clone();
            tokio::spawn(async move {
                let (mut tx, mut rx) = ws.split();
                let sender = tokio::spawn({
                    let room_id = room_id.clone();
                    async move {
                        for k in 0..PER_CLIENT {
                            let f = json!({"type": "send", "room_id": room_id, "client_id": format!("c{i}-{k}"), "body": format!("{i}:{k}")});
                            tx.send(Message::text(f.to_string())).await.unwrap();
                        }
                        tx
                    }
                });
                let mut seqs = Vec::new();
                let mut bodies = Vec::new();
                let mut acks = 0;
                let deadline = tokio::time::Instant::now() + surge_testkit::eventually_timeout() * 6;
                while (seqs.len() as i64) < TOTAL || acks < PER_CLIENT {
                    let m = tokio::time::timeout_at(deadline, rx.next()).await
                        .unwrap_or_else(|_| panic!("client {i}: {} messages, {acks} acks by the deadline", seqs.len()));
                    let Some(Ok(Message::Text(t))) = m else { panic!("client {i}: socket ended: {m:?}") };
                    let f: Value = serde_json::from_str(t.as_str()).unwrap();
                    match f["type"].as_str().unwrap() {
                        "message" => {
                            seqs.push(f["seq"].as_i64().unwrap());
                            bodies.push(f["body"].as_str().unwrap().to_owned());
                        }
                        "ack" => acks += 1,
                        "error" => panic!("client {i}: {f}"),
                        _ => {}
                    }
                }
                let _tx = sender.await.unwrap();
                (seqs, bodies)
            })
        }).collect::<Vec<_>>();
        let results = futures::future::join_all(runs).await;
        eprintln!("{TOTAL} messages sent and delivered to {CLIENTS} clients ({} deliveries) in {:?} on {:?}", TOTAL * CLIENTS as i64, started.elapsed(), app.backend);
        let expected: Vec<i64> = (1..=TOTAL).collect();
        let mut first_bodies: Option<Vec<String>> = None;
        for (i, r) in results.into_iter().enumerate() {
            let (seqs, bodies) = r.unwrap();
            assert_eq!(seqs, expected, "client {i} got every seq once, in order");
            let distinct: HashSet<&String> = bodies.iter().collect();
            assert_eq!(distinct.len() as i64, TOTAL, "client {i}: every message once");
            // Everyone sees the same order.
            match &first_bodies {
                None => first_bodies = Some(bodies),
                Some(b) => assert_eq!(b, &bodies, "client {i} saw another order"),
            }
        }
        assert_eq!(stored_messages(&app, &room_id).await, TOTAL);
    }

    #[config(generous)]
    async fn a_client_that_drops_and_rejoins_with_after_seq_sees_no_gap_and_no_duplicate(app) {
        let admin = app.admin("chat-admin@example.com").await;
        let room_id = room(&app, &admin, "강원 대설").await;
        let users = members(&app, 2, &room_id).await;
        let (talker, reader) = (&users[0], &users[1]);
        let other = app.another_server().await;
        let mut t = connect(&app.base, &talker.access).await;
        ws_join(&mut t, &room_id, None).await;
        let mut r = connect(&other.base, &reader.access).await;
        ws_join(&mut r, &room_id, None).await;
        for i in 1..=30 {
            ws_send(&mut t, &room_id, &format!("a{i}"), &format!("{i}")).await;
        }
        // The reader takes ten, then its connection drops.
        let mut seen = Vec::new();
        while seen.len() < 10 {
            seen.push(next_of(&mut r, &["message"]).await["seq"].as_i64().unwrap());
        }
        drop(r);
        // More is said while it is away, and while it comes back.
        for i in 31..=60 {
            ws_send(&mut t, &room_id, &format!("a{i}"), &format!("{i}")).await;
        }
        let talking = tokio::spawn({
            let room_id = room_id.clone();
            async move {
                for i in 61..=100 {
                    ws_send(&mut t, &room_id, &format!("a{i}"), &format!("{i}")).await;
                }
                let mut acks = 0;
                while acks < 100 {
                    if next_of(&mut t, &["ack", "error"]).await["type"] == "ack" {
                        acks += 1;
                    }
                }
            }
        });
        let mut r = connect(&app.base, &reader.access).await;
        let joined = ws_join(&mut r, &room_id, Some(10)).await;
        assert!(joined["last_seq"].as_i64().unwrap() >= 10);
        while seen.len() < 100 {
            seen.push(next_of(&mut r, &["message"]).await["seq"].as_i64().unwrap());
        }
        talking.await.unwrap();
        assert_eq!(seen, (1..=100).collect::<Vec<_>>());
        // Nothing more arrives: no duplicate trails the replay.
        ws_send(&mut r, &room_id, "last", "끝").await;
        let next = next_of(&mut r, &["message"]).await;
        assert_eq!(next["seq"], 101, "{next}");
    }

    async fn a_resent_message_is_stored_once_and_acked_with_its_seq(app) {
        let admin = app.admin("chat-admin@example.com").await;
        let room_id = room(&app, &admin, "제주 호우").await;
        let users = members(&app, 1, &room_id).await;
        let other = app.another_server().await;
        let mut a = connect(&app.base, &users[0].access).await;
        ws_join(&mut a, &room_id, None).await;
        let first = ws_send_acked(&mut a, &room_id, "same-1", "우산 챙기세요").await;
        assert_eq!((first["type"].as_str(), first["seq"].as_i64()), (Some("ack"), Some(1)), "{first}");
        let again = ws_send_acked(&mut a, &room_id, "same-1", "우산 챙기세요").await;
        assert_eq!(again["seq"], 1, "{again}");
        assert_eq!(again["id"], first["id"]);
        // The same resend through another instance, after a reconnect.
        let mut b = connect(&other.base, &users[0].access).await;
        ws_join(&mut b, &room_id, None).await;
        let third = ws_send_acked(&mut b, &room_id, "same-1", "우산 챙기세요").await;
        assert_eq!(third["seq"], 1, "{third}");
        assert_eq!(stored_messages(&app, &room_id).await, 1);
        let h = history(&app, &users[0], &room_id, "").await;
        assert_eq!(seqs(&h["items"]), [1]);
        let next = ws_send_acked(&mut b, &room_id, "same-2", "다음").await;
        assert_eq!(next["seq"], 2, "no seq was used up by the resends");
    }

    async fn a_member_who_left_sends_nothing_and_a_stale_after_seq_misses_nothing(app) {
        let admin = app.admin("chat-admin@example.com").await;
        let room_id = room(&app, &admin, "부산 강풍").await;
        let users = members(&app, 3, &room_id).await;
        let mut a = connect(&app.base, &users[0].access).await;
        ws_join(&mut a, &room_id, None).await;
        let first = ws_send_acked(&mut a, &room_id, "m1", "바람 세요").await;
        assert_eq!(first["seq"], 1, "{first}");
        // Leaving over HTTP with the socket still open: the next send is refused.
        let (s, r) = app.post(&format!("/api/v1/chat/rooms/{room_id}/leave"), Some(&users[0].access), json!({})).await;
        assert!(s.is_success(), "{r}");
        let e = ws_send_acked(&mut a, &room_id, "m2", "아직 있어요").await;
        assert_eq!(e["code"], "not_a_member", "{e}");
        assert_eq!(stored_messages(&app, &room_id).await, 1);
        // A join with an after_seq far past the room's end still gets the next message.
        let mut c = connect(&app.base, &users[2].access).await;
        ws_join(&mut c, &room_id, Some(1000)).await;
        let mut b = connect(&app.base, &users[1].access).await;
        ws_join(&mut b, &room_id, None).await;
        let sent = ws_send_acked(&mut b, &room_id, "b1", "저는 남아요").await;
        assert_eq!(sent["seq"], 2, "{sent}");
        let got = next_of(&mut c, &["message"]).await;
        assert_eq!(got["seq"], 2, "{got}");
    }

    #[config(|c| c.chat_max_rooms_per_connection = 2)]
    async fn limits_and_mistakes_answer_with_error_frames(app) {
        let admin = app.admin("chat-admin@example.com").await;
        let rooms = [room(&app, &admin, "a").await, room(&app, &admin, "b").await, room(&app, &admin, "c").await];
        let users = app.quick_users(1).await;
        let me = &users[0];
        let mut ws = connect(&app.base, &me.access).await;
        // Not a member yet.
        send_frame(&mut ws, json!({"type": "join", "room_id": rooms[0]})).await;
        let e = next_of(&mut ws, &["error"]).await;
        assert_eq!(e["code"], "not_a_member", "{e}");
        for r in &rooms {
            join(&app, me, r).await;
        }
        ws_join(&mut ws, &rooms[0], None).await;
        ws_join(&mut ws, &rooms[1], None).await;
        send_frame(&mut ws, json!({"type": "join", "room_id": rooms[2]})).await;
        let e = next_of(&mut ws, &["error"]).await;
        assert_eq!(e["code"], "too_many_rooms", "{e}");
        // Sending to a room not open on this connection.
        ws_send(&mut ws, &rooms[2], "x1", "hi").await;
        let e = next_of(&mut ws, &["error"]).await;
        assert_eq!((e["code"].as_str(), e["client_id"].as_str()), (Some("not_joined"), Some("x1")), "{e}");
        // A body over 1,000 characters (Korean counts per character, not byte).
        ws_send(&mut ws, &rooms[0], "long", &"가".repeat(1001)).await;
        let e = next_of(&mut ws, &["error"]).await;
        assert_eq!((e["code"].as_str(), e["client_id"].as_str()), (Some("invalid_body_length"), Some("long")), "{e}");
        let ok = ws_send_acked(&mut ws, &rooms[0], "full", &"가".repeat(1000)).await;
        assert_eq!(ok["type"], "ack", "{ok}");
        // Not JSON, unknown frames, binary frames.
        ws.send(Message::text("hello")).await.unwrap();
        assert_eq!(next_of(&mut ws, &["error"]).await["code"], "invalid_frame");
        send_frame(&mut ws, json!({"type": "shout"})).await;
        assert_eq!(next_of(&mut ws, &["error"]).await["code"], "invalid_frame");
        ws.send(Message::binary(vec![1, 2, 3])).await.unwrap();
        assert_eq!(next_of(&mut ws, &["error"]).await["code"], "invalid_frame");
        // The send rate: 5/s with a burst of 10 (one already spent above).
        for i in 0..15 {
            ws_send(&mut ws, &rooms[1], &format!("r{i}"), "빨리").await;
        }
        let (mut acked, mut limited) = (0, 0);
        while acked + limited < 15 {
            let f = next_of(&mut ws, &["ack", "error"]).await;
            match f["code"].as_str() {
                None => acked += 1,
                Some("rate_limited") => limited += 1,
                Some(other) => panic!("unexpected {other}: {f}"),
            }
        }
        assert!(acked <= 10 && limited >= 5, "{acked} acked, {limited} limited");
        // The connection still works after all that.
        send_frame(&mut ws, json!({"type": "leave", "room_id": rooms[0]})).await;
        assert_eq!(next_of(&mut ws, &["left", "error"]).await["type"], "left");
        ws_join(&mut ws, &rooms[2], None).await;
    }

    async fn presence_counts_the_connections_of_a_room(app) {
        let admin = app.admin("chat-admin@example.com").await;
        let room_id = room(&app, &admin, "presence").await;
        let users = members(&app, 2, &room_id).await;
        let mut a = connect(&app.base, &users[0].access).await;
        ws_join(&mut a, &room_id, None).await;
        let p = next_of(&mut a, &["presence"]).await;
        assert_eq!(p["online"], 1, "{p}");
        let mut b = connect(&app.base, &users[1].access).await;
        ws_join(&mut b, &room_id, None).await;
        let p = next_of(&mut a, &["presence"]).await;
        assert_eq!(p["online"], 2, "{p}");
        drop(b);
        let p = next_of(&mut a, &["presence"]).await;
        assert_eq!(p["online"], 1, "{p}");
    }

    async fn a_logout_closes_the_socket(app) {
        let admin = app.admin("chat-admin@example.com").await;
        let room_id = room(&app, &admin, "logout").await;
        let kim = app.user("kim@example.com", "kim").await;
        join(&app, &kim, &room_id).await;
        let mut ws = connect(&app.base, &kim.access).await;
        ws_join(&mut ws, &room_id, None).await;
        let (s, _) = app.post("/api/v1/identity/logout", Some(&kim.access), json!({})).await;
        assert!(s.is_success(), "{s}");
        let mut saw_error = false;
        while let Some(f) = next_frame(&mut ws).await {
            if f["type"] == "error" {
                assert_eq!(f["code"], "session_ended", "{f}");
                saw_error = true;
            }
        }
        assert!(saw_error, "told why before the close");
        // Without a token, or without the upgrade, the route answers problem+json.
        let (s, r) = app.get("/api/v1/chat/ws", None).await;
        surge_testkit::assert_problem(s, &r, 401, "unauthenticated");
        let who = app.user("lee@example.com", "lee").await;
        let (s, r) = app.get("/api/v1/chat/ws", Some(&who.access)).await;
        surge_testkit::assert_problem(s, &r, 400, "websocket_required");
    }
}

/// A client that stops reading: its socket's receive buffer is tiny, so what the
/// server writes piles up in the connection's queue.
async fn connect_unread(
    base: &str,
    token: &str,
    room_id: &str,
) -> tokio_tungstenite::WebSocketStream<tokio::net::TcpStream> {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let addr: std::net::SocketAddr = base.trim_start_matches("http://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let mut req = format!("ws://{addr}/api/v1/chat/ws")
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::client_async(req, stream).await.unwrap();
    ws.send(Message::text(
        json!({"type": "join", "room_id": room_id}).to_string(),
    ))
    .await
    .unwrap();
    loop {
        let Some(Ok(Message::Text(t))) = ws.next().await else {
            panic!("socket ended before joining")
        };
        if serde_json::from_str::<Value>(t.as_str()).unwrap()["type"] == "joined" {
            return ws;
        }
    }
}

/// Embedded only: the server's TCP send buffer (up to 4 MB here) fills before the
/// connection's queue does, so this takes thousands of 1,000-character messages, a
/// minute per run at the scaled backends' one-transaction-per-message pace on this
/// 2-core machine (checked once on PostgreSQL + Redis: 8,000 messages, cut off). The
/// queue and the cut-off are the same code on every backend.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_reader_that_stops_reading_is_disconnected_and_never_slows_the_room() {
    let app = TestApp::spawn_on(surge_testkit::Backend::Embedded, |c| {
        c.chat_socket_queue = 1024;
        c.chat_sends_per_second = 10_000;
        c.chat_send_burst = 10_000;
    })
    .await
    .expect("embedded");
    const SENT: i64 = 6000;
    let admin = app.admin("chat-admin@example.com").await;
    let room_id = room(&app, &admin, "slow").await;
    let users = members(&app, 2, &room_id).await;
    let mut fast = connect(&app.base, &users[0].access).await;
    ws_join(&mut fast, &room_id, None).await;
    let slow = connect_unread(&app.base, &users[1].access, &room_id).await;
    let body = "x".repeat(1000);
    let (mut tx, mut rx) = fast.split();
    let sending = tokio::spawn({
        let room_id = room_id.clone();
        async move {
            for i in 0..SENT {
                let f = json!({"type": "send", "room_id": room_id, "client_id": format!("s{i}"), "body": body});
                tx.send(Message::text(f.to_string())).await.unwrap();
            }
            tx
        }
    });
    // The fast reader gets every message, in order, while the slow one stalls.
    let (mut got, mut acks) = (0, 0);
    while got < SENT || acks < SENT {
        let m = tokio::time::timeout(surge_testkit::eventually_timeout() * 3, rx.next())
            .await
            .unwrap_or_else(|_| panic!("{got} messages, {acks} acks"));
        let Some(Ok(Message::Text(t))) = m else {
            panic!("fast socket ended: {m:?}")
        };
        let f: Value = serde_json::from_str(t.as_str()).unwrap();
        match f["type"].as_str().unwrap() {
            "message" => {
                got += 1;
                assert_eq!(f["seq"], got, "in order");
            }
            "ack" => acks += 1,
            "error" => panic!("{f}"),
            _ => {}
        }
    }
    let _tx = sending.await.unwrap();
    // The slow socket ends before it got everything.
    let (mut slow_got, mut slow) = (0, slow);
    while let Ok(Some(Ok(m))) =
        tokio::time::timeout(surge_testkit::eventually_timeout(), slow.next()).await
    {
        if m.is_close() {
            break;
        }
        if m.to_text().unwrap_or("").contains("\"type\":\"message\"") {
            slow_got += 1;
        }
    }
    assert!(
        slow_got < SENT,
        "the slow reader was cut off ({slow_got} of {SENT})"
    );
}

matrix! {
    #[config(|c| c.access_token_ttl_secs = 3)]
    async fn an_expired_access_token_closes_the_socket(app) {
        let users = app.quick_users(1).await;
        let mut ws = connect(&app.base, &users[0].access).await;
        let f = next_frame(&mut ws).await.expect("told why before the close");
        assert_eq!((f["type"].as_str(), f["code"].as_str()), (Some("error"), Some("session_ended")), "{f}");
        assert!(next_frame(&mut ws).await.is_none(), "then closed");
    }
}
