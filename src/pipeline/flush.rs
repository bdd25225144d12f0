//! Flush epochs: a `flush` closes the open batches and starts a new epoch once the hits queued
//! before it are taken, so each batch holds hits of one epoch, and a flush is answered once no hit
//! of its epoch or an earlier one is unresolved (sent, failed or dropped), or when its deadline
//! passes.
//!
//! A flush takes no more hits than the sender holds at other times: hits still in the queue when
//! it comes are owed to its epoch, and taken as room frees up. So flushes, however frequent, keep
//! the sender inside its memory bound; and at most [`MAX_WAITING`] wait at once.

use std::collections::VecDeque;

use tokio::sync::oneshot;
use tokio::time::Instant;

/// Flushes waiting at once, at most: one more is answered `false` at once.
pub(super) const MAX_WAITING: usize = 1024;

#[derive(Debug, Default)]
pub(super) struct Flushes {
    epoch: u64,
    /// Hits queued before the last flush and not taken yet: they belong to the current epoch,
    /// which ends when they are taken.
    owed: usize,
    /// Hits taken and not yet resolved, per epoch (oldest first; a few entries at most).
    unresolved: VecDeque<(u64, usize)>,
    /// Flushes waiting: the epoch they closed, their deadline, their answer.
    waiters: Vec<(u64, Instant, oneshot::Sender<bool>)>,
}

impl Flushes {
    /// The epoch hits taken now belong to.
    pub(super) fn epoch(&self) -> u64 {
        self.epoch
    }

    /// One hit was taken, in the current epoch. `true` when it was the last one a flush was
    /// owed: the epoch ends, and the open batches must close with it (a batch holds hits of one
    /// epoch).
    #[must_use]
    pub(super) fn taken(&mut self) -> bool {
        match self.unresolved.back_mut() {
            Some((epoch, n)) if *epoch == self.epoch => *n += 1,
            _ => self.unresolved.push_back((self.epoch, 1)),
        }
        self.passed()
    }

    /// A hit was taken that needs no resolving (one for the usage table only). `true` when it
    /// was the last one a flush was owed, as for [`taken`](Self::taken).
    #[must_use]
    pub(super) fn passed(&mut self) -> bool {
        if self.owed > 0 {
            self.owed -= 1;
            if self.owed == 0 {
                self.epoch += 1;
                return true;
            }
        }
        false
    }

    /// `hits` of `epoch` were sent or failed.
    pub(super) fn resolved(&mut self, epoch: u64, hits: usize) {
        if let Some(u) = self.unresolved.iter_mut().find(|u| u.0 == epoch) {
            u.1 -= hits;
        }
        self.unresolved.retain(|u| u.1 > 0);
    }

    /// A flush: it waits for every hit taken so far and the `queued` hits still in the queue,
    /// which are taken before any hit queued after it (the queue is first in, first out); later
    /// hits belong to the next epoch. `false` when too many flushes wait already: it is answered
    /// `false` at once.
    pub(super) fn begin(
        &mut self,
        deadline: Instant,
        reply: oneshot::Sender<bool>,
        queued: usize,
    ) -> bool {
        if self.waiters.len() >= MAX_WAITING {
            let _ = reply.send(false);
            return false;
        }
        self.waiters.push((self.epoch, deadline, reply));
        // Flushes close together share an epoch: the earlier may wait for a few hits queued
        // after it, never for fewer than those queued before it.
        self.owed = self.owed.max(queued);
        if self.owed == 0 {
            self.epoch += 1;
        }
        true
    }

    /// Whether every hit taken is resolved.
    pub(super) fn settled(&self) -> bool {
        self.unresolved.is_empty()
    }

    /// The earliest deadline of a waiting flush.
    pub(super) fn next_deadline(&self) -> Option<Instant> {
        self.waiters.iter().map(|w| w.1).min()
    }

    /// Gives up on every unresolved hit; returns how many there were.
    pub(super) fn abandon(&mut self) -> usize {
        let n = self.unresolved.iter().map(|u| u.1).sum();
        self.unresolved.clear();
        n
    }

    /// Answers the flushes whose hits are all resolved (`true`) or whose deadline passed (`false`).
    pub(super) fn answer(&mut self, now: Instant) {
        if self.waiters.is_empty() {
            return;
        }
        // The oldest epoch with hits unresolved, or owed hits still in the queue: every flush of
        // an earlier epoch is done.
        let oldest = self.unresolved.front().map_or(u64::MAX, |u| u.0);
        let oldest = if self.owed > 0 {
            oldest.min(self.epoch)
        } else {
            oldest
        };
        let mut i = 0;
        while i < self.waiters.len() {
            let (epoch, deadline, _) = &self.waiters[i];
            let answer = if *epoch < oldest {
                true
            } else if *deadline <= now {
                false
            } else {
                i += 1;
                continue;
            };
            let (_, _, reply) = self.waiters.swap_remove(i);
            let _ = reply.send(answer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_flush_waits_for_its_epoch_and_earlier_ones_only() {
        let now = Instant::now();
        let later = now + Duration::from_secs(60);
        let mut f = Flushes::default();
        assert!(!f.taken());
        assert!(!f.taken());
        let (tx1, mut rx1) = oneshot::channel();
        f.begin(later, tx1, 0);
        assert!(!f.taken()); // epoch 1
        let (tx2, mut rx2) = oneshot::channel();
        f.begin(later, tx2, 0);
        f.answer(now);
        assert!(rx1.try_recv().is_err() && rx2.try_recv().is_err());
        // Epoch 1's hit resolves first: the second flush still waits for epoch 0.
        f.resolved(1, 1);
        f.answer(now);
        assert!(rx1.try_recv().is_err() && rx2.try_recv().is_err());
        f.resolved(0, 2);
        f.answer(now);
        assert_eq!((rx1.try_recv(), rx2.try_recv()), (Ok(true), Ok(true)));
        assert!(f.settled());
    }

    #[test]
    fn a_flush_past_its_deadline_says_false_and_abandoning_settles() {
        let now = Instant::now();
        let mut f = Flushes::default();
        assert!(!f.taken());
        let (tx, mut rx) = oneshot::channel();
        f.begin(now + Duration::from_millis(10), tx, 0);
        f.answer(now);
        assert!(rx.try_recv().is_err());
        f.answer(now + Duration::from_millis(10));
        assert_eq!(rx.try_recv(), Ok(false));
        assert_eq!(f.abandon(), 1);
        assert!(f.settled());
        assert_eq!(f.next_deadline(), None);
    }

    #[test]
    fn hits_still_queued_at_a_flush_belong_to_its_epoch() {
        let now = Instant::now();
        let later = now + Duration::from_secs(60);
        let mut f = Flushes::default();
        assert!(!f.taken());
        let (tx, mut rx) = oneshot::channel();
        // Two hits were still in the queue.
        f.begin(later, tx, 2);
        assert_eq!(f.epoch(), 0);
        // What was taken is resolved, but the flush is owed two more.
        f.resolved(0, 1);
        f.answer(now);
        assert!(rx.try_recv().is_err());
        assert!(!f.taken());
        assert!(f.taken(), "the epoch ends with the last hit owed");
        assert_eq!(f.epoch(), 1);
        assert!(!f.taken()); // queued after the flush
        f.resolved(0, 2);
        f.answer(now);
        assert_eq!(rx.try_recv(), Ok(true));
        assert!(!f.settled());
    }

    #[test]
    fn waiting_flushes_are_bounded() {
        let later = Instant::now() + Duration::from_secs(60);
        let mut f = Flushes::default();
        assert!(!f.taken());
        let mut receivers = Vec::new();
        for _ in 0..MAX_WAITING {
            let (tx, rx) = oneshot::channel();
            assert!(f.begin(later, tx, 0));
            receivers.push(rx);
        }
        let (tx, mut rx) = oneshot::channel();
        assert!(!f.begin(later, tx, 0));
        assert_eq!(rx.try_recv(), Ok(false));
        assert_eq!(f.waiters.len(), MAX_WAITING);
    }
}
