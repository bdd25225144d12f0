//! Delivery of one batch: an HTTP request per attempt, retried within the policy.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::backoff::{self, Verdict};
use super::log::RateLimited;
use super::stats::Counters;
use crate::config::Config;
use crate::encode::batch::Batch;
use crate::encode::Urls;
use crate::hooks::{guarded, BatchOutcome};
use crate::spec::Protocol;
use crate::transport::{Reply, Transport};

/// How a batch ended.
pub(super) enum End {
    Sent,
    Failed,
}

pub(super) struct Done {
    pub(super) epoch: u64,
    pub(super) hits: usize,
    pub(super) end: End,
    /// Failed for want of an answer (after every retry), not for a refusal.
    pub(super) unreachable: bool,
    /// Failed with the collector asking to wait (`Retry-After` on its last answer, capped at
    /// the policy's `max_retry_after`): the whole sender waits that long.
    pub(super) wait: Option<Duration>,
    /// Failed on an attempt that may have arrived (not retried unless the policy says so).
    pub(super) unconfirmed: bool,
    /// Retries after attempts that may have arrived.
    pub(super) retried_unconfirmed: u32,
    pub(super) outcome: BatchOutcome,
}

impl Done {
    /// A batch whose delivery task panicked (a `Transport` is user code) or was cancelled: it
    /// counts as failed.
    pub(super) fn lost(epoch: u64, hits: usize, error: &str) -> Self {
        Done {
            epoch,
            hits,
            end: End::Failed,
            unreachable: false,
            wait: None,
            unconfirmed: false,
            retried_unconfirmed: 0,
            outcome: BatchOutcome {
                hits,
                attempts: 1,
                status: None,
                error: Some(error.into()),
                validation_messages: Vec::new(),
            },
        }
    }

    /// Counts the batch's hits and requests, tells the hooks, and logs what went wrong.
    pub(super) fn report(&self, counters: &Counters, cfg: &Config, warn: &RateLimited) {
        let (n, outcome) = (self.hits, &self.outcome);
        Counters::add(&counters.batches, 1);
        Counters::add(
            &counters.retried,
            outcome.attempts.saturating_sub(1) as usize,
        );
        Counters::add(
            &counters.retried_unconfirmed,
            self.retried_unconfirmed as usize,
        );
        if self.unconfirmed {
            Counters::add(&counters.failed_unconfirmed, n);
        }
        match self.end {
            End::Sent => {
                Counters::add(&counters.sent, n);
                if outcome.validation_messages.is_empty() {
                    guarded("on_success", || cfg.sender.on_success.on_success(outcome));
                    return;
                }
                Counters::add(&counters.invalid, n);
                for m in &outcome.validation_messages {
                    tracing::warn!(
                        field = %m.field_path,
                        code = ?m.validation_code,
                        "tower-ga: validation: {}",
                        m.description
                    );
                }
            }
            End::Failed => {
                Counters::add(&counters.failed, n);
                if warn.allow() {
                    tracing::warn!(
                        hits = n,
                        attempts = outcome.attempts,
                        status = ?outcome.status,
                        error = outcome.error.as_deref().unwrap_or(""),
                        "tower-ga: gave up on a batch"
                    );
                }
            }
        }
        guarded("on_failure", || cfg.sender.on_failure.on_failure(outcome));
    }
}

/// What one attempt came to.
enum Attempt {
    Delivered,
    /// A permanent refusal: not retried.
    Refused,
    /// No answer, or a transient one: retried within the policy, after at least the answer's
    /// `Retry-After` if it gave one.
    Transient(Option<Duration>),
}

/// Sends one batch, retrying transient failures within the policy.
pub(super) async fn deliver(
    cfg: Arc<Config>,
    protocol: Protocol,
    urls: Arc<Urls>,
    transport: Arc<dyn Transport>,
    mut batch: Batch,
) -> Done {
    let policy = &cfg.sender.retry;
    let mut outcome = BatchOutcome {
        hits: batch.len(),
        attempts: 0,
        status: None,
        error: None,
        validation_messages: Vec::new(),
    };
    // The last answer's `Retry-After`, capped.
    let mut asked_to_wait: Option<Duration>;
    let mut refused = false;
    let mut unconfirmed;
    let mut retried_unconfirmed = 0;
    let end = loop {
        outcome.attempts += 1;
        let request = protocol.request(&urls, &mut batch);
        let sent = tokio::time::timeout(cfg.sender.request_timeout, transport.send(request)).await;
        asked_to_wait = None;
        unconfirmed = false;
        let after = match sent {
            Ok(Ok(reply)) => {
                let (attempt, wait) = judge(&reply, &cfg, protocol, &mut outcome);
                asked_to_wait = wait;
                match attempt {
                    Attempt::Delivered => break End::Sent,
                    Attempt::Refused => {
                        refused = true;
                        break End::Failed;
                    }
                    Attempt::Transient(after) => after,
                }
            }
            Ok(Err(e)) => {
                outcome.error = Some(e.to_string());
                unconfirmed = !e.was_not_sent();
                None
            }
            Err(_) => {
                outcome.error = Some(format!("no answer within {:?}", cfg.sender.request_timeout));
                unconfirmed = true;
                None
            }
        };
        if outcome.attempts > policy.max_retries || (unconfirmed && !policy.retry_unconfirmed) {
            break End::Failed;
        }
        retried_unconfirmed += u32::from(unconfirmed);
        let backoff = policy.backoff(outcome.attempts, backoff::jitter());
        tokio::time::sleep(after.map_or(backoff, |w| w.max(backoff))).await;
    };
    Done {
        epoch: batch.epoch,
        hits: batch.len(),
        unreachable: matches!(end, End::Failed) && !refused,
        wait: asked_to_wait.filter(|_| matches!(end, End::Failed)),
        unconfirmed: unconfirmed && matches!(end, End::Failed),
        retried_unconfirmed,
        end,
        outcome,
    }
}

/// Reads one answer into `outcome`: what it came to, and its `Retry-After` (capped by the
/// policy) if it is not a success.
fn judge(
    reply: &Reply,
    cfg: &Config,
    protocol: Protocol,
    outcome: &mut BatchOutcome,
) -> (Attempt, Option<Duration>) {
    let policy = &cfg.sender.retry;
    outcome.status = Some(reply.status);
    let now = SystemTime::now();
    let wait = backoff::retry_after(&reply.headers, now)
        .filter(|_| !reply.status.is_success())
        .map(|d| d.min(policy.max_retry_after));
    let attempt = match backoff::verdict(reply.status, &reply.headers, policy, now) {
        Verdict::Delivered => {
            outcome.error = None;
            if cfg.target.validation {
                outcome.validation_messages = protocol.validation_messages(&reply.body);
            }
            Attempt::Delivered
        }
        Verdict::GiveUp => {
            outcome.error = Some(format!("collector answered {}", reply.status));
            Attempt::Refused
        }
        Verdict::Retry(after) => {
            outcome.error = Some(format!("collector answered {}", reply.status));
            Attempt::Transient(after)
        }
    };
    (attempt, wait)
}
