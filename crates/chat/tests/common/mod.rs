//! Helpers shared by the chat tests: rooms over HTTP and a WebSocket client.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use futures::{SinkExt, StreamExt};
use surge_testkit::reqwest::StatusCode;
use surge_testkit::serde_json::{json, Value};
use surge_testkit::{Session, TestApp};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A room opened by `admin`.
pub async fn room(app: &TestApp, admin: &Session, name: &str) -> String {
    let (s, r) = app
        .post(
            "/api/v1/chat/rooms",
            Some(&admin.access),
            json!({"name": name}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    r["id"].as_str().unwrap().to_owned()
}

pub async fn join(app: &TestApp, who: &Session, room: &str) -> Value {
    let (s, r) = app
        .post(
            &format!("/api/v1/chat/rooms/{room}/join"),
            Some(&who.access),
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    r
}

/// A WebSocket to `base` (`http://…` of an instance), authenticated as `token`.
pub async fn connect(base: &str, token: &str) -> Ws {
    let url = format!("{}/api/v1/chat/ws", base.replacen("http", "ws", 1));
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (ws, _) = tokio_tungstenite::connect_async(req)
        .await
        .expect("websocket");
    ws
}

pub async fn send_frame(ws: &mut Ws, v: Value) {
    ws.send(Message::text(v.to_string())).await.expect("send");
}

/// The next JSON frame; `None` once the server closed the socket.
pub async fn next_frame(ws: &mut Ws) -> Option<Value> {
    let limit = surge_testkit::eventually_timeout();
    loop {
        let m = tokio::time::timeout(limit, ws.next())
            .await
            .unwrap_or_else(|_| panic!("no frame within {limit:?}"));
        match m {
            Some(Ok(Message::Text(t))) => return Some(serde_json::from_str(t.as_str()).unwrap()),
            Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
            Some(Ok(_)) => continue,
        }
    }
}

/// The next frame of one of these types (presence and the like are skipped).
pub async fn next_of(ws: &mut Ws, types: &[&str]) -> Value {
    loop {
        let f = next_frame(ws).await.expect("socket open");
        if types.contains(&f["type"].as_str().unwrap_or("")) {
            return f;
        }
    }
}

/// Opens a room on the socket; returns the `joined` frame.
pub async fn ws_join(ws: &mut Ws, room: &str, after_seq: Option<i64>) -> Value {
    let mut f = json!({"type": "join", "room_id": room});
    if let Some(a) = after_seq {
        f["after_seq"] = json!(a);
    }
    send_frame(ws, f).await;
    let r = next_of(ws, &["joined", "error"]).await;
    assert_eq!(r["type"], "joined", "{r}");
    r
}

pub async fn ws_send(ws: &mut Ws, room: &str, client_id: &str, body: &str) {
    send_frame(
        ws,
        json!({"type": "send", "room_id": room, "client_id": client_id, "body": body}),
    )
    .await;
}

/// Sends and waits for its ack (or error) frame.
pub async fn ws_send_acked(ws: &mut Ws, room: &str, client_id: &str, body: &str) -> Value {
    ws_send(ws, room, client_id, body).await;
    loop {
        let f = next_of(ws, &["ack", "error"]).await;
        if f["client_id"] == client_id || f["type"] == "error" {
            return f;
        }
    }
}

pub async fn history(app: &TestApp, who: &Session, room: &str, query: &str) -> Value {
    let (s, r) = app
        .get(
            &format!("/api/v1/chat/rooms/{room}/messages{query}"),
            Some(&who.access),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    r
}

pub fn seqs(items: &Value) -> Vec<i64> {
    items
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["seq"].as_i64().unwrap())
        .collect()
}
