//! A tiny SMTP server on 127.0.0.1:0 for tests of the SMTP mailer: it speaks enough SMTP
//! for lettre (EHLO/HELO, optional AUTH PLAIN, MAIL, RCPT, DATA, RSET, NOOP, QUIT), keeps
//! every accepted message, and can be told to refuse or stall the next messages.
//!
//! [`Received`] decodes what lettre encodes (RFC 2047 headers, base64 or quoted-printable
//! bodies), so tests compare the text a reader would see.

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use surge_kernel::ports::Mail;
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::{JoinHandle, JoinSet};

use crate::contracts::Inbox;

mod message;

pub use message::{base64_decode, decode_words, Received};

/// Longest command or message line accepted (RFC 5321 asks for 1000; lettre keeps to 78).
const MAX_LINE: u64 = 64 * 1024;
/// Largest message accepted (advertised as SIZE); larger ones get 552.
pub const MAX_MESSAGE: usize = 10 * 1024 * 1024;

/// Where [`FakeSmtp::reject_next`] and [`FakeSmtp::stall_next`] act on a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Every `RCPT TO` of the message (after a rejection, `DATA` gets 554).
    Rcpt,
    /// The reply after the message content (`CRLF.CRLF`). A rejected message is not
    /// kept; a stalled one is kept before the late reply.
    Data,
}

#[derive(Debug, Clone, Copy)]
enum Action {
    Reject(u16),
    Stall(Duration),
}

#[derive(Default)]
struct State {
    received: Vec<Received>,
    /// (messages left, where, what).
    queued: Option<(usize, Stage, Action)>,
    connections: usize,
}

impl State {
    /// Takes one queued action for `stage`.
    fn take(&mut self, stage: Stage) -> Option<Action> {
        let (left, at, action) = self.queued.as_mut()?;
        if *at != stage || *left == 0 {
            return None;
        }
        *left -= 1;
        Some(*action)
    }
}

/// The server; stops (closing its connections) when dropped.
pub struct FakeSmtp {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    task: JoinHandle<()>,
}

impl Drop for FakeSmtp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl std::fmt::Debug for FakeSmtp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FakeSmtp")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl FakeSmtp {
    /// A server without authentication (it refuses `AUTH`).
    pub async fn start() -> FakeSmtp {
        Self::start_with(None).await
    }

    /// A server that advertises `AUTH PLAIN` and requires these credentials before `MAIL`.
    pub async fn with_auth(user: &str, password: &str) -> FakeSmtp {
        Self::start_with(Some((user.to_owned(), password.to_owned()))).await
    }

    async fn start_with(auth: Option<(String, String)>) -> FakeSmtp {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake SMTP");
        let addr = listener.local_addr().expect("fake SMTP address");
        let state = Arc::new(Mutex::new(State::default()));
        let auth = Arc::new(auth);
        let task = tokio::spawn({
            let state = state.clone();
            async move {
                // Dropped with the task: aborts the sessions too.
                let mut sessions = JoinSet::new();
                loop {
                    tokio::select! {
                        accepted = listener.accept() => {
                            let Ok((stream, _)) = accepted else { continue };
                            lock(&state).connections += 1;
                            sessions.spawn(session(stream, state.clone(), auth.clone()));
                        }
                        Some(_) = sessions.join_next(), if !sessions.is_empty() => {}
                    }
                }
            }
        });
        FakeSmtp { addr, state, task }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `smtp://127.0.0.1:PORT` (plain SMTP).
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// The messages accepted so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        lock(&self.state).received.clone()
    }

    /// How many connections were accepted so far.
    pub fn connections(&self) -> usize {
        lock(&self.state).connections
    }

    /// Refuses the next `n` messages at `at` with `code` (4xx: try later, 5xx: refused),
    /// replacing any rejection or stall still queued.
    pub fn reject_next(&self, n: usize, at: Stage, code: u16) {
        assert!((400..600).contains(&code), "a rejection is 4xx or 5xx");
        lock(&self.state).queued = Some((n, at, Action::Reject(code)));
    }

    /// Answers the next `n` messages at `at` only after `delay` (then goes on as usual),
    /// replacing any rejection or stall still queued.
    pub fn stall_next(&self, n: usize, at: Stage, delay: Duration) {
        lock(&self.state).queued = Some((n, at, Action::Stall(delay)));
    }
}

#[async_trait::async_trait]
impl Inbox for FakeSmtp {
    async fn delivered(&self) -> Vec<Mail> {
        self.received().iter().flat_map(Received::mails).collect()
    }

    async fn fail_next(&self, n: usize) {
        self.reject_next(n, Stage::Data, 451);
    }
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One line with its line ending, `None` at end of stream.
async fn read_line<R: AsyncBufRead + Unpin>(r: &mut R) -> io::Result<Option<Vec<u8>>> {
    let mut buf = Vec::new();
    let n = (&mut *r).take(MAX_LINE).read_until(b'\n', &mut buf).await?;
    if n == 0 {
        return Ok(None);
    }
    if !buf.ends_with(b"\n") {
        if n as u64 >= MAX_LINE {
            return Err(io::Error::new(io::ErrorKind::InvalidData, "line too long"));
        }
        return Ok(None); // closed in the middle of a line
    }
    Ok(Some(buf))
}

/// The address in `FROM:<a@b> PARAMS` / `TO:<a@b>`, after `prefix`; `None` if malformed.
fn path_arg(arg: &str, prefix: &str) -> Option<String> {
    let head = arg.get(..prefix.len())?;
    if !head.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = arg[prefix.len()..].trim_start();
    if let Some(inner) = rest.strip_prefix('<') {
        let end = inner.find('>')?;
        Some(inner[..end].to_owned())
    } else {
        let addr = rest.split_whitespace().next()?;
        Some(addr.to_owned())
    }
}

fn reject_reply(code: u16) -> String {
    if code < 500 {
        format!("{code} 4.3.0 Temporary failure, try again later (fake)\r\n")
    } else {
        format!("{code} 5.7.1 Refused (fake)\r\n")
    }
}

struct Transaction {
    from: String,
    to: Vec<String>,
    /// The code every `RCPT` of this message gets, when it is refused.
    rejected: Option<u16>,
}

async fn session(stream: TcpStream, state: Arc<Mutex<State>>, auth: Arc<Option<(String, String)>>) {
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    // A broken connection just ends the session.
    let _ = converse(&mut r, &mut w, &state, &auth).await;
}

async fn converse<R, W>(
    r: &mut R,
    w: &mut W,
    state: &Mutex<State>,
    auth: &Option<(String, String)>,
) -> io::Result<()>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    w.write_all(b"220 fake.smtp.local ESMTP Surge test server\r\n")
        .await?;
    let mut greeted = false;
    let mut user: Option<String> = None;
    let mut tx: Option<Transaction> = None;
    while let Some(line) = read_line(r).await? {
        let line = String::from_utf8_lossy(&line);
        let line = line.trim_end_matches(['\r', '\n']);
        let (verb, arg) = line.split_once(' ').unwrap_or((line, ""));
        let reply = match verb.to_ascii_uppercase().as_str() {
            "EHLO" => {
                greeted = true;
                tx = None;
                let mut lines = vec![
                    format!("fake.smtp.local greets {arg}"),
                    "8BITMIME".to_owned(),
                    "SMTPUTF8".to_owned(),
                    format!("SIZE {MAX_MESSAGE}"),
                ];
                if auth.is_some() {
                    lines.push("AUTH PLAIN".to_owned());
                }
                lines.push("ENHANCEDSTATUSCODES".to_owned());
                let last = lines.len() - 1;
                lines
                    .iter()
                    .enumerate()
                    .map(|(i, l)| format!("250{}{l}\r\n", if i == last { ' ' } else { '-' }))
                    .collect()
            }
            "HELO" => {
                greeted = true;
                tx = None;
                "250 fake.smtp.local\r\n".to_owned()
            }
            "AUTH" => {
                let mut parts = arg.split_whitespace();
                let mechanism = parts.next().unwrap_or_default();
                if !mechanism.eq_ignore_ascii_case("PLAIN") {
                    "504 5.5.4 Only AUTH PLAIN is supported\r\n".to_owned()
                } else if user.is_some() {
                    "503 5.5.1 Already authenticated\r\n".to_owned()
                } else {
                    let response = match parts.next() {
                        Some(initial) => initial.to_owned(),
                        None => {
                            w.write_all(b"334 \r\n").await?;
                            let Some(next) = read_line(r).await? else {
                                return Ok(());
                            };
                            String::from_utf8_lossy(&next).trim().to_owned()
                        }
                    };
                    let decoded = base64_decode(&response).unwrap_or_default();
                    let fields: Vec<String> = decoded
                        .split(|b| *b == 0)
                        .map(|f| String::from_utf8_lossy(f).into_owned())
                        .collect();
                    match (fields.as_slice(), auth) {
                        ([_authzid, u, p], Some((want_u, want_p)))
                            if u == want_u && p == want_p =>
                        {
                            user = Some(u.clone());
                            "235 2.7.0 Authentication successful\r\n".to_owned()
                        }
                        (_, None) => "502 5.5.1 AUTH not available\r\n".to_owned(),
                        _ => "535 5.7.8 Authentication credentials invalid\r\n".to_owned(),
                    }
                }
            }
            "MAIL" => match path_arg(arg, "FROM:") {
                _ if !greeted => "503 5.5.1 Say EHLO first\r\n".to_owned(),
                _ if auth.is_some() && user.is_none() => {
                    "530 5.7.0 Authentication required\r\n".to_owned()
                }
                _ if tx.is_some() => "503 5.5.1 Nested MAIL command\r\n".to_owned(),
                None => "501 5.5.4 Syntax: MAIL FROM:<address>\r\n".to_owned(),
                Some(from) => {
                    tx = Some(Transaction {
                        from,
                        to: Vec::new(),
                        rejected: None,
                    });
                    "250 2.1.0 OK\r\n".to_owned()
                }
            },
            "RCPT" => match (tx.as_mut(), path_arg(arg, "TO:")) {
                (None, _) => "503 5.5.1 Need MAIL first\r\n".to_owned(),
                (Some(_), None) => "501 5.5.4 Syntax: RCPT TO:<address>\r\n".to_owned(),
                (Some(t), Some(to)) => {
                    // The first recipient decides; the others of the message follow it.
                    if t.to.is_empty() && t.rejected.is_none() {
                        let action = lock(state).take(Stage::Rcpt);
                        match action {
                            Some(Action::Reject(code)) => t.rejected = Some(code),
                            Some(Action::Stall(delay)) => tokio::time::sleep(delay).await,
                            None => {}
                        }
                    }
                    match t.rejected {
                        Some(code) => reject_reply(code),
                        None => {
                            t.to.push(to);
                            "250 2.1.5 OK\r\n".to_owned()
                        }
                    }
                }
            },
            "DATA" => match tx.take() {
                None => "503 5.5.1 Need MAIL first\r\n".to_owned(),
                Some(t) if t.to.is_empty() => {
                    tx = Some(t);
                    "554 5.5.1 No valid recipients\r\n".to_owned()
                }
                Some(t) => {
                    w.write_all(b"354 End data with <CR><LF>.<CR><LF>\r\n")
                        .await?;
                    let Some(data) = read_data(r).await? else {
                        return Ok(());
                    };
                    let received = Received {
                        from: t.from,
                        to: t.to,
                        data,
                        auth_user: user.clone(),
                    };
                    let action = lock(state).take(Stage::Data);
                    match action {
                        _ if received.data.len() > MAX_MESSAGE => {
                            "552 5.3.4 Message too big\r\n".to_owned()
                        }
                        Some(Action::Reject(code)) => reject_reply(code),
                        Some(Action::Stall(delay)) => {
                            lock(state).received.push(received);
                            tokio::time::sleep(delay).await;
                            "250 2.0.0 OK: queued late\r\n".to_owned()
                        }
                        None => {
                            lock(state).received.push(received);
                            "250 2.0.0 OK: queued\r\n".to_owned()
                        }
                    }
                }
            },
            "RSET" => {
                tx = None;
                "250 2.0.0 OK\r\n".to_owned()
            }
            "NOOP" => "250 2.0.0 OK\r\n".to_owned(),
            "VRFY" => "252 2.5.0 Cannot VRFY user\r\n".to_owned(),
            "STARTTLS" => "454 4.7.0 TLS not available\r\n".to_owned(),
            "QUIT" => {
                w.write_all(b"221 2.0.0 Bye\r\n").await?;
                return w.shutdown().await;
            }
            _ => "500 5.5.2 Command not recognized\r\n".to_owned(),
        };
        w.write_all(reply.as_bytes()).await?;
    }
    Ok(())
}

/// The message after `354`: lines up to a lone `.`, dot-stuffing undone. Stops keeping
/// bytes past [`MAX_MESSAGE`] (the length then tells the caller it was too big).
async fn read_data<R: AsyncBufRead + Unpin>(r: &mut R) -> io::Result<Option<Vec<u8>>> {
    let mut data = Vec::new();
    loop {
        let Some(line) = read_line(r).await? else {
            return Ok(None);
        };
        if line == b".\r\n" || line == b".\n" {
            break;
        }
        let line = line.strip_prefix(b".").unwrap_or(&line);
        if data.len() <= MAX_MESSAGE {
            data.extend_from_slice(line);
        }
    }
    // The CRLF before the final "." belongs to the terminator, not to the message.
    if data.ends_with(b"\r\n") {
        data.truncate(data.len() - 2);
    } else if data.ends_with(b"\n") {
        data.truncate(data.len() - 1);
    }
    Ok(Some(data))
}
