//! Delivery of one batch: an HTTP request per attempt, retried within the policy.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::backoff::{self, Verdict};
use crate::config::Config;
use crate::encode::batch::Batch;
use crate::encode::Urls;
use crate::hooks::BatchOutcome;
use crate::spec::Protocol;
use crate::transport::Transport;

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
    pub(super) outcome: BatchOutcome,
}

/// Sends one batch, retrying transient failures within the policy.
pub(super) async fn deliver(
    cfg: Arc<Config>,
    protocol: Protocol,
    urls: Arc<Urls>,
    transport: Arc<dyn Transport>,
    mut batch: Batch,
) -> Done {
    let policy = &cfg.retry;
    let mut outcome = BatchOutcome {
        hits: batch.len(),
        attempts: 0,
        status: None,
        error: None,
        validation_messages: Vec::new(),
    };
    let mut refused = false;
    // The last answer's `Retry-After`, capped.
    let mut asked_to_wait: Option<Duration>;
    let end = loop {
        outcome.attempts += 1;
        let request = protocol.request(&urls, &mut batch);
        let wait = match tokio::time::timeout(cfg.request_timeout, transport.send(request)).await {
            Ok(Ok(reply)) => {
                outcome.status = Some(reply.status);
                let now = SystemTime::now();
                asked_to_wait = backoff::retry_after(&reply.headers, now)
                    .filter(|_| !reply.status.is_success())
                    .map(|d| d.min(policy.max_retry_after));
                match backoff::verdict(reply.status, &reply.headers, policy, now) {
                    Verdict::Delivered => {
                        outcome.error = None;
                        if cfg.validation {
                            outcome.validation_messages = protocol.validation_messages(&reply.body);
                        }
                        break End::Sent;
                    }
                    Verdict::GiveUp => {
                        outcome.error = Some(format!("collector answered {}", reply.status));
                        refused = true;
                        break End::Failed;
                    }
                    Verdict::Retry(after) => {
                        outcome.error = Some(format!("collector answered {}", reply.status));
                        after
                    }
                }
            }
            Ok(Err(e)) => {
                outcome.error = Some(e.to_string());
                asked_to_wait = None;
                None
            }
            Err(_) => {
                outcome.error = Some(format!("no answer within {:?}", cfg.request_timeout));
                asked_to_wait = None;
                None
            }
        };
        if outcome.attempts > policy.max_retries {
            break End::Failed;
        }
        let backoff = policy.backoff(outcome.attempts, backoff::jitter());
        tokio::time::sleep(wait.map_or(backoff, |w| w.max(backoff))).await;
    };
    Done {
        epoch: batch.epoch,
        hits: batch.len(),
        unreachable: matches!(end, End::Failed) && !refused,
        wait: asked_to_wait.filter(|_| matches!(end, End::Failed)),
        end,
        outcome,
    }
}
