//! A load generator for the chat WebSocket: N clients (one account each) spread over R
//! rooms, M messages per second in total, each carrying its send time; every receiver
//! measures send-to-receive latency. Prints one JSON summary on stdout.
//!
//! ```sh
//! cargo run --release -p surge-chat --example chat_load -- --clients 500 --rooms 5 \
//!   --rate 50 --duration-secs 10 --admin-email admin@surge.local --admin-password …
//! ```
//!
//! Setup: the admin opens the rooms `<tag>-room-<j>` (or finds them), each account
//! `<tag>-<i>@load.surge.local` is signed in (its refresh token from `--tokens` when
//! kept there, else a login, else a signup) and joins room `i % R`, then every client
//! connects and opens its room. Then a scheduler hands sends round-robin to the clients
//! at `--rate` for `--duration-secs`; latencies of messages sent after `--warmup-secs`
//! count. Loopback only.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use clap::Parser;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio_tungstenite::tungstenite::Message;

#[derive(Parser, Debug, Clone)]
#[command(about = "Chat WebSocket load generator (loopback only)")]
struct Args {
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base_url: String,
    #[arg(long, default_value_t = 500)]
    clients: usize,
    #[arg(long, default_value_t = 5)]
    rooms: usize,
    /// Messages per second, all clients together.
    #[arg(long, default_value_t = 50.0)]
    rate: f64,
    #[arg(long, default_value_t = 10)]
    duration_secs: u64,
    /// Messages sent in the first seconds are not measured.
    #[arg(long, default_value_t = 2)]
    warmup_secs: u64,
    /// How long receivers keep reading after the last send.
    #[arg(long, default_value_t = 3)]
    drain_secs: u64,
    #[arg(long, env = "ADMIN_EMAIL")]
    admin_email: String,
    #[arg(long, env = "ADMIN_PASSWORD")]
    admin_password: String,
    /// Names the accounts and rooms (reused by later runs with the same tag).
    #[arg(long, default_value = "load")]
    tag: String,
    /// Keeps the accounts' refresh tokens between runs (no password hashing then).
    #[arg(long)]
    tokens: Option<PathBuf>,
    /// HTTP requests and connects in flight during setup (logins beyond the server's
    /// per-address throttle, 30 by default, wait and retry).
    #[arg(long, default_value_t = 16)]
    setup_concurrency: usize,
    /// The server's pid, to report its memory per connection (Linux /proc).
    #[arg(long)]
    server_pid: Option<u32>,
}

const PASSWORD: &str = "load-test-password-1";

fn micros() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

/// Resident memory of a process, in KiB (Linux).
fn rss_kib(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

struct Api {
    http: reqwest::Client,
    base: String,
}

impl Api {
    async fn post(
        &self,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> anyhow::Result<(u16, Value)> {
        let mut req = self
            .http
            .post(format!("{}/api/v1{path}", self.base))
            .json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await?;
        let status = res.status().as_u16();
        Ok((status, res.json().await.unwrap_or(Value::Null)))
    }

    async fn get(&self, path: &str, token: &str) -> anyhow::Result<Value> {
        let res = self
            .http
            .get(format!("{}/api/v1{path}", self.base))
            .bearer_auth(token)
            .send()
            .await?;
        Ok(res.error_for_status()?.json().await?)
    }

    /// Logs in; waits out a 429 (the per-address login throttle counts attempts in flight).
    async fn login(&self, email: &str, password: &str) -> anyhow::Result<Option<(String, String)>> {
        for _ in 0..20 {
            let (s, t) = self
                .post(
                    "/identity/login",
                    None,
                    json!({"email": email, "password": password}),
                )
                .await?;
            if s == 429 {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            return Ok((s == 200).then(|| {
                let f = |k: &str| t[k].as_str().unwrap_or_default().to_owned();
                (f("access_token"), f("refresh_token"))
            }));
        }
        anyhow::bail!("login of {email}: still throttled")
    }

    /// (access, refresh) of account `i`: refreshed, logged in, or signed up.
    async fn session(
        &self,
        tag: &str,
        i: usize,
        refresh: Option<&str>,
    ) -> anyhow::Result<(String, String)> {
        if let Some(r) = refresh {
            let (s, t) = self
                .post("/identity/token/refresh", None, json!({"refresh_token": r}))
                .await?;
            if s == 200 {
                let f = |k: &str| t[k].as_str().unwrap_or_default().to_owned();
                return Ok((f("access_token"), f("refresh_token")));
            }
        }
        // Signing up first: a login that fails counts against the address's throttle.
        let email = format!("{tag}-{i}@load.surge.local");
        let (s, body) = self
            .post(
                "/identity/signup",
                None,
                json!({"email": email, "password": PASSWORD, "nickname": format!("{tag}{i}")}),
            )
            .await?;
        anyhow::ensure!(
            s == 201 || body["code"] == "email_taken",
            "signup of {email}: {s} {body}"
        );
        self.login(&email, PASSWORD)
            .await?
            .ok_or_else(|| anyhow::anyhow!("login of {email} refused"))
    }
}

/// Rooms `<tag>-room-0..R`, opened by the admin when missing.
async fn rooms(api: &Api, args: &Args) -> anyhow::Result<Vec<String>> {
    let (admin, _) = api
        .login(&args.admin_email, &args.admin_password)
        .await?
        .ok_or_else(|| anyhow::anyhow!("the admin login failed (ADMIN_EMAIL / ADMIN_PASSWORD)"))?;
    let mut by_name: HashMap<String, String> = HashMap::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("/chat/rooms?limit=100&cursor={c}"),
            None => "/chat/rooms?limit=100".to_owned(),
        };
        let page = api.get(&q, &admin).await?;
        for r in page["items"].as_array().into_iter().flatten() {
            by_name.insert(
                r["name"].as_str().unwrap_or_default().into(),
                r["id"].as_str().unwrap_or_default().into(),
            );
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    let mut ids = Vec::with_capacity(args.rooms);
    for j in 0..args.rooms {
        let name = format!("{}-room-{j}", args.tag);
        if let Some(id) = by_name.get(&name) {
            ids.push(id.clone());
            continue;
        }
        let (s, r) = api
            .post("/chat/rooms", Some(&admin), json!({"name": name}))
            .await?;
        anyhow::ensure!(s == 201, "opening {name}: {s} {r}");
        ids.push(r["id"].as_str().unwrap_or_default().to_owned());
    }
    Ok(ids)
}

/// What one client saw.
#[derive(Default)]
struct Seen {
    /// Send-to-receive of measured messages, µs.
    latencies: Vec<u32>,
    /// Send-to-ack of this client's measured messages, µs.
    acks: Vec<u32>,
    sent: u64,
    measured_sent: u64,
    deliveries: u64,
    errors: BTreeMap<String, u64>,
    gaps: u64,
    duplicates: u64,
    closed_early: Option<String>,
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(ws_base: &str, token: &str, room: &str) -> anyhow::Result<Ws> {
    let url = format!("{ws_base}/api/v1/chat/ws?access_token={token}");
    // Small buffers: tungstenite zero-fills its whole read buffer (128 KiB by default),
    // which thousands of clients pay in memory.
    let config = tokio_tungstenite::tungstenite::protocol::WebSocketConfig::default()
        .read_buffer_size(8 * 1024)
        .write_buffer_size(0);
    let (mut ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), true).await?;
    ws.send(Message::text(
        json!({"type": "join", "room_id": room}).to_string(),
    ))
    .await?;
    let deadline = tokio::time::sleep(Duration::from_secs(30));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => anyhow::bail!("no joined frame within 30 s"),
            m = ws.next() => match m {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(t.as_str())?;
                    match v["type"].as_str() {
                        Some("joined") => return Ok(ws),
                        Some("error") => anyhow::bail!("join refused: {v}"),
                        _ => {}
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e.into()),
                None => anyhow::bail!("closed before joining"),
            },
        }
    }
}

/// One client: sends what the scheduler hands it, reads until told to stop.
async fn client(
    mut ws: Ws,
    room: String,
    id: usize,
    mut sends: mpsc::Receiver<u64>,
    measure_from: u64,
    mut stop: watch::Receiver<bool>,
) -> Seen {
    let mut seen = Seen::default();
    let mut last_seq: i64 = 0;
    let mut sending = true;
    loop {
        tokio::select! {
            _ = stop.changed() => break,
            n = sends.recv(), if sending => {
                let Some(n) = n else { sending = false; continue };
                let t = micros();
                let frame = json!({"type": "send", "room_id": room, "client_id": format!("{t}-{id}-{n}"),
                                   "body": format!("t={t};n={n};from={id}")});
                seen.sent += 1;
                if t >= measure_from {
                    seen.measured_sent += 1;
                }
                if let Err(e) = ws.send(Message::text(frame.to_string())).await {
                    seen.closed_early = Some(format!("send: {e}"));
                    break;
                }
            }
            m = ws.next() => {
                let text = match m {
                    Some(Ok(Message::Text(t))) => t,
                    Some(Ok(Message::Close(c))) => {
                        seen.closed_early = Some(c.map(|c| c.reason.to_string()).unwrap_or_else(|| "closed".into()));
                        break;
                    }
                    Some(Ok(_)) => continue,
                    Some(Err(e)) => { seen.closed_early = Some(e.to_string()); break; }
                    None => { seen.closed_early = Some("closed".into()); break; }
                };
                let now = micros();
                let Ok(v) = serde_json::from_str::<Value>(text.as_str()) else { continue };
                match v["type"].as_str() {
                    Some("message") => {
                        let seq = v["seq"].as_i64().unwrap_or(0);
                        if last_seq > 0 && seq > last_seq + 1 {
                            seen.gaps += 1;
                        }
                        if seq <= last_seq {
                            seen.duplicates += 1;
                        } else {
                            last_seq = seq;
                        }
                        let sent_at = v["body"].as_str().and_then(|b| b.strip_prefix("t="))
                            .and_then(|b| b.split(';').next()).and_then(|t| t.parse::<u64>().ok());
                        if let Some(t) = sent_at.filter(|t| *t >= measure_from) {
                            seen.deliveries += 1;
                            seen.latencies.push(now.saturating_sub(t).min(u32::MAX as u64) as u32);
                        }
                    }
                    Some("ack") => {
                        let sent_at = v["client_id"].as_str().and_then(|c| c.split('-').next())
                            .and_then(|t| t.parse::<u64>().ok());
                        if let Some(t) = sent_at.filter(|t| *t >= measure_from) {
                            seen.acks.push(now.saturating_sub(t).min(u32::MAX as u64) as u32);
                        }
                    }
                    Some("error") => {
                        *seen.errors.entry(v["code"].as_str().unwrap_or("?").to_owned()).or_default() += 1;
                    }
                    _ => {}
                }
            }
        }
    }
    seen
}

fn percentiles(mut v: Vec<u32>) -> Value {
    if v.is_empty() {
        return Value::Null;
    }
    v.sort_unstable();
    let at = |q: f64| {
        let i = ((v.len() as f64 * q).ceil() as usize).clamp(1, v.len()) - 1;
        f64::from(v[i]) / 1000.0
    };
    json!({"count": v.len(), "p50": at(0.50), "p95": at(0.95), "p99": at(0.99), "max": at(1.0)})
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let base = args.base_url.trim_end_matches('/').to_owned();
    anyhow::ensure!(
        ["http://127.0.0.1", "http://localhost", "http://[::1]"]
            .iter()
            .any(|p| base.starts_with(p)),
        "--base-url must be a loopback http URL"
    );
    anyhow::ensure!(
        args.clients >= 1 && args.rooms >= 1 && args.rate > 0.0,
        "clients, rooms and rate must be positive"
    );
    anyhow::ensure!(args.duration_secs <= 600, "--duration-secs is at most 600");
    let api = Arc::new(Api {
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(args.setup_concurrency)
            .build()?,
        base: base.clone(),
    });
    let setup_started = Instant::now();
    let room_ids = Arc::new(rooms(&api, &args).await?);

    // Sessions: kept refresh tokens first.
    let kept: HashMap<usize, String> = args
        .tokens
        .as_ref()
        .and_then(|p| std::fs::read_to_string(p).ok())
        .map(|s| {
            s.lines()
                .filter_map(|l| l.split_once('\t'))
                .filter_map(|(i, r)| Some((i.parse().ok()?, r.to_owned())))
                .collect()
        })
        .unwrap_or_default();
    let gate = Arc::new(Semaphore::new(args.setup_concurrency.max(1)));
    let sessions = futures::future::join_all((0..args.clients).map(|i| {
        let (api, gate, rooms, tag) = (
            api.clone(),
            gate.clone(),
            room_ids.clone(),
            args.tag.clone(),
        );
        let refresh = kept.get(&i).cloned();
        async move {
            let _permit = gate.acquire().await?;
            let (access, refresh) = api.session(&tag, i, refresh.as_deref()).await?;
            let room = rooms[i % rooms.len()].clone();
            let (s, r) = api
                .post(
                    &format!("/chat/rooms/{room}/join"),
                    Some(&access),
                    json!({}),
                )
                .await?;
            anyhow::ensure!(s == 200, "joining {room}: {s} {r}");
            anyhow::Ok((access, refresh, room))
        }
    }))
    .await;
    let mut ready = Vec::new();
    let mut setup_errors = 0u64;
    for (i, s) in sessions.into_iter().enumerate() {
        match s {
            Ok(s) => ready.push((i, s)),
            Err(e) => {
                setup_errors += 1;
                if setup_errors <= 5 {
                    eprintln!("client {i}: {e:#}");
                }
            }
        }
    }
    if let Some(path) = &args.tokens {
        let lines: String = ready
            .iter()
            .map(|(i, (_, r, _))| format!("{i}\t{r}\n"))
            .collect();
        std::fs::write(path, lines)?;
    }
    let setup_secs = setup_started.elapsed().as_secs_f64();
    eprintln!(
        "setup: {} accounts in {} rooms in {setup_secs:.1} s ({setup_errors} failed)",
        ready.len(),
        room_ids.len()
    );

    let server_pid = args.server_pid.map(|p| p.to_string());
    let server_before = server_pid.as_deref().and_then(rss_kib);
    let ws_base = base.replacen("http", "ws", 1);
    let connect_started = Instant::now();
    let opened = futures::future::join_all(ready.into_iter().map(|(i, (access, _, room))| {
        let (gate, ws_base) = (gate.clone(), ws_base.clone());
        async move {
            let _permit = gate.acquire().await;
            (i, room.clone(), open(&ws_base, &access, &room).await)
        }
    }))
    .await;
    let connect_secs = connect_started.elapsed().as_secs_f64();
    let server_after = server_pid.as_deref().and_then(rss_kib);
    let (stop_tx, stop_rx) = watch::channel(false);
    let measure_from = micros() + args.warmup_secs * 1_000_000;
    let mut senders = Vec::new();
    let mut tasks = Vec::new();
    let mut connect_errors: BTreeMap<String, u64> = BTreeMap::new();
    for (i, room, ws) in opened {
        match ws {
            Ok(ws) => {
                let (tx, rx) = mpsc::channel(64);
                senders.push(tx);
                tasks.push(tokio::spawn(client(
                    ws,
                    room,
                    i,
                    rx,
                    measure_from,
                    stop_rx.clone(),
                )));
            }
            Err(e) => {
                let kind = format!("{e:#}").chars().take(80).collect::<String>();
                *connect_errors.entry(kind).or_default() += 1;
            }
        }
    }
    let connected = senders.len();
    eprintln!(
        "connected {connected} sockets in {connect_secs:.1} s; sending {} msg/s for {} s",
        args.rate, args.duration_secs
    );

    // The scheduler: round-robin over the clients at `rate`.
    let send_started = Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs_f64(1.0 / args.rate));
    let mut n: u64 = 0;
    let mut backlog = 0u64;
    if connected > 0 {
        while send_started.elapsed() < Duration::from_secs(args.duration_secs) {
            tick.tick().await;
            if senders[(n as usize) % connected].try_send(n).is_err() {
                backlog += 1;
            }
            n += 1;
        }
    }
    let send_secs = send_started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(args.drain_secs)).await;
    let _ = stop_tx.send(true);
    let mut all = Seen::default();
    let mut closed: BTreeMap<String, u64> = BTreeMap::new();
    for t in tasks {
        let s = t.await?;
        all.sent += s.sent;
        all.measured_sent += s.measured_sent;
        all.deliveries += s.deliveries;
        all.gaps += s.gaps;
        all.duplicates += s.duplicates;
        all.latencies.extend(s.latencies);
        all.acks.extend(s.acks);
        for (k, v) in s.errors {
            *all.errors.entry(k).or_default() += v;
        }
        if let Some(why) = s.closed_early {
            *closed.entry(why).or_default() += 1;
        }
    }
    // Each measured message should reach every connected member of its room.
    let per_room = connected as f64 / room_ids.len() as f64;
    let measured_secs = (send_secs - args.warmup_secs as f64).max(0.001);
    let summary = json!({
        "clients": args.clients, "rooms": room_ids.len(), "connected": connected,
        "setup_secs": setup_secs, "setup_errors": setup_errors,
        "connect_secs": connect_secs, "connect_errors": connect_errors,
        "rate_target": args.rate, "send_secs": send_secs, "warmup_secs": args.warmup_secs,
        "sent": all.sent, "scheduler_backlog": backlog, "measured_sent": all.measured_sent,
        "sends_per_s": all.measured_sent as f64 / measured_secs,
        "deliveries": all.deliveries, "expected_deliveries": (all.measured_sent as f64 * per_room).round(),
        "deliveries_per_s": all.deliveries as f64 / measured_secs,
        "latency_ms": percentiles(all.latencies), "ack_latency_ms": percentiles(all.acks),
        "error_frames": all.errors, "closed_early": closed, "seq_gaps": all.gaps, "duplicates": all.duplicates,
        "server_rss_kib": {"before_connect": server_before, "after_connect": server_after,
            "per_connection": match (server_before, server_after) {
                (Some(b), Some(a)) if connected > 0 => json!((a.saturating_sub(b)) as f64 / connected as f64),
                _ => Value::Null }},
        "generator_rss_kib": rss_kib("self"),
    });
    println!("{summary}");
    Ok(())
}
