//! Live streams (SSE) opened with an access token: they end when their session does
//! (logout, deactivation, role change), when the token expires, and when their user
//! opens more than the allowed number of them on this instance (the oldest ends first).

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{broadcast, oneshot};
use uuid::Uuid;

/// Sent on the revocation feed when revocations may have been missed (the pub/sub
/// subscription was re-established): every stream checks its session again.
pub(crate) const RECHECK_ALL: Uuid = Uuid::nil();

/// How often a stream asks the shared cache whether its session is still live, in
/// case a revocation message was lost on the way.
pub(crate) const RECHECK_EVERY: Duration = Duration::from_secs(10);

/// A user's open streams, oldest first: (registration id, closes it when sent to).
type OpenStreams = HashMap<Uuid, VecDeque<(u64, oneshot::Sender<()>)>>;

pub(crate) struct LiveStreams {
    max_per_user: usize,
    next: AtomicU64,
    open: Mutex<OpenStreams>,
    /// Revoked session ids, from this instance and (over pub/sub) every other one.
    pub(crate) revoked: broadcast::Sender<Uuid>,
}

/// One registered stream; dropping it unregisters.
pub(crate) struct Registration {
    streams: Arc<LiveStreams>,
    user: Uuid,
    id: u64,
    /// Fires when a newer stream of the same user pushed this one out.
    pub(crate) evicted: oneshot::Receiver<()>,
}

impl LiveStreams {
    pub(crate) fn new(max_per_user: usize) -> Self {
        Self {
            max_per_user: max_per_user.max(1),
            next: AtomicU64::new(0),
            open: Mutex::new(HashMap::new()),
            revoked: broadcast::channel(1024).0,
        }
    }

    /// Registers a new stream of `user`, closing their oldest ones beyond the cap.
    pub(crate) fn register(self: &Arc<Self>, user: Uuid) -> Registration {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (tx, evicted) = oneshot::channel();
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let mine = open.entry(user).or_default();
        mine.push_back((id, tx));
        while mine.len() > self.max_per_user {
            if let Some((_, oldest)) = mine.pop_front() {
                let _ = oldest.send(());
            }
        }
        Registration {
            streams: self.clone(),
            user,
            id,
            evicted,
        }
    }

    /// Streams open on this instance (for tests and metrics).
    pub(crate) fn count(&self, user: Uuid) -> usize {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.get(&user).map_or(0, VecDeque::len)
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut open = self.streams.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(mine) = open.get_mut(&self.user) {
            mine.retain(|(id, _)| *id != self.id);
            if mine.is_empty() {
                open.remove(&self.user);
            }
        }
    }
}
