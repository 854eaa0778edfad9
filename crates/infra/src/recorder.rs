//! [`Recorder`]: the in-process stand-in for an outgoing port (mail, chat): it keeps what
//! would have been sent instead of sending it, bounded, and can be told to fail the next
//! sends to simulate an outage. [`RecordingMailer`](crate::mail::RecordingMailer) and
//! [`RecordingChat`](crate::chat::RecordingChat) are recorders of mails and of messages.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

/// How many items a [`Recorder`] keeps (the oldest are dropped first).
pub const RECORDER_CAPACITY: usize = 1000;

/// Keeps the last [`RECORDER_CAPACITY`] items, oldest first.
#[derive(Debug)]
pub struct Recorder<T> {
    items: Mutex<VecDeque<T>>,
    fail_next: AtomicUsize,
}

impl<T> Default for Recorder<T> {
    fn default() -> Self {
        Self {
            items: Mutex::new(VecDeque::new()),
            fail_next: AtomicUsize::new(0),
        }
    }
}

impl<T: Clone> Recorder<T> {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, VecDeque<T>> {
        self.items.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The items kept so far, oldest first (at most [`RECORDER_CAPACITY`]).
    pub fn items(&self) -> Vec<T> {
        self.lock().iter().cloned().collect()
    }

    /// The newest item that matches.
    pub fn last_where(&self, matches: impl Fn(&T) -> bool) -> Option<T> {
        self.lock().iter().rev().find(|t| matches(t)).cloned()
    }

    /// Forgets the items kept so far.
    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Makes the next `n` sends fail (replacing any failures still queued).
    pub fn fail_next(&self, n: usize) {
        self.fail_next.store(n, Ordering::SeqCst);
    }

    /// Takes one queued failure, if any: the send it is asked for must fail.
    pub fn take_failure(&self) -> bool {
        self.fail_next
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok()
    }

    /// Keeps `item`, dropping the oldest when full.
    pub fn record(&self, item: T) {
        let mut items = self.lock();
        if items.len() >= RECORDER_CAPACITY {
            items.pop_front();
        }
        items.push_back(item);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_latest_and_fails_on_demand() {
        let r = Recorder::new();
        for i in 0..RECORDER_CAPACITY + 2 {
            r.record(i);
        }
        let items = r.items();
        assert_eq!(items.len(), RECORDER_CAPACITY);
        assert_eq!(
            (items[0], r.last_where(|_| true)),
            (2, Some(RECORDER_CAPACITY + 1))
        );
        r.fail_next(2);
        assert!(r.take_failure() && r.take_failure() && !r.take_failure());
        r.clear();
        assert!(r.items().is_empty());
    }
}
