//! [`RecordingTransport`]: records what would have been sent, and parses it back.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use http::StatusCode;
use serde_json::{Map, Value};

use super::{BoxFuture, Outgoing, Reply, Transport, TransportError};

/// A [`Transport`] that records every request and answers with a fixed status (204 by default).
#[derive(Clone, Debug)]
pub struct RecordingTransport {
    requests: Arc<Mutex<Vec<Outgoing>>>,
    status: StatusCode,
}

impl Default for RecordingTransport {
    fn default() -> Self {
        Self::new()
    }
}

impl RecordingTransport {
    /// Records and answers `204 No Content`.
    pub fn new() -> Self {
        Self::answering(StatusCode::NO_CONTENT)
    }

    /// Records and answers with `status` (e.g. `400` to exercise failure paths).
    pub fn answering(status: StatusCode) -> Self {
        RecordingTransport {
            requests: Arc::default(),
            status,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Outgoing>> {
        self.requests.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every request made so far, retries included.
    pub fn requests(&self) -> Vec<Outgoing> {
        self.lock().clone()
    }

    /// Forgets what was recorded.
    pub fn clear(&self) {
        self.lock().clear()
    }

    /// Every GA4 event sent so far, flattened with its request's top level.
    pub fn ga4_events(&self) -> Vec<RecordedEvent> {
        self.lock()
            .iter()
            .flat_map(|r| parse_ga4(r.body()))
            .collect()
    }

    /// Every v1 hit sent so far, as parameter maps.
    pub fn ua_hits(&self) -> Vec<BTreeMap<String, String>> {
        self.lock()
            .iter()
            .flat_map(|r| parse_ua(&String::from_utf8_lossy(r.body())))
            .collect()
    }
}

impl Transport for RecordingTransport {
    fn send(&self, request: Outgoing) -> BoxFuture<'static, Result<Reply, TransportError>> {
        self.lock().push(request);
        let status = self.status;
        Box::pin(async move { Ok(Reply::status(status)) })
    }
}

/// One GA4 event with the top-level fields of the request that carried it.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct RecordedEvent {
    /// `client_id`.
    pub client_id: String,
    /// `user_id`.
    pub user_id: Option<String>,
    /// `user_agent`.
    pub user_agent: Option<String>,
    /// `ip_override`.
    pub ip_override: Option<String>,
    /// Event `name`.
    pub name: String,
    /// Event `timestamp_micros`.
    pub timestamp_micros: Option<u64>,
    /// Event `params`.
    pub params: Map<String, Value>,
}

impl RecordedEvent {
    /// A string param.
    pub fn param_str(&self, name: &str) -> Option<&str> {
        self.params.get(name).and_then(Value::as_str)
    }

    /// A numeric param.
    pub fn param_u64(&self, name: &str) -> Option<u64> {
        self.params.get(name).and_then(Value::as_u64)
    }
}

/// Splits a GA4 body into its events (an unreadable body gives none).
pub fn parse_ga4(body: &[u8]) -> Vec<RecordedEvent> {
    let Ok(Value::Object(top)) = serde_json::from_slice::<Value>(body) else {
        return Vec::new();
    };
    let text = |k: &str| top.get(k).and_then(Value::as_str).map(str::to_owned);
    let events = top
        .get("events")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    events
        .into_iter()
        .map(|e| RecordedEvent {
            client_id: text("client_id").unwrap_or_default(),
            user_id: text("user_id"),
            user_agent: text("user_agent"),
            ip_override: text("ip_override"),
            name: e
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
            timestamp_micros: e.get("timestamp_micros").and_then(Value::as_u64),
            params: e
                .get("params")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
        })
        .collect()
}

/// Splits a v1 body (one payload, or a batch of lines) into parameter maps.
pub fn parse_ua(body: &str) -> Vec<BTreeMap<String, String>> {
    body.split('\n')
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            form_urlencoded::parse(l.trim().as_bytes())
                .into_owned()
                .collect()
        })
        .collect()
}
