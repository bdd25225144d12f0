//! Which endpoint a request is for, and what its hits are: counted cheaply, or counted and
//! checked against the documented rules.

use std::collections::BTreeMap;

use crate::spec::{ua, ValidationMessage};
use crate::testing::parse_ga4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Endpoint {
    Ga4,
    Ga4Debug,
    Ua,
    UaBatch,
    UaDebug,
}

impl Endpoint {
    pub(super) fn of(path: &str) -> Option<Endpoint> {
        Some(match path {
            "/mp/collect" => Endpoint::Ga4,
            "/debug/mp/collect" => Endpoint::Ga4Debug,
            "/collect" => Endpoint::Ua,
            "/batch" => Endpoint::UaBatch,
            "/debug/collect" => Endpoint::UaDebug,
            _ => return None,
        })
    }
}

/// Counts the hits in a request without parsing it: GA4 events each carry one `"name":` (the
/// crate's own payloads name no param `name`), v1 hits are lines.
pub(super) fn count_hits(endpoint: Endpoint, body: &[u8]) -> usize {
    match endpoint {
        Endpoint::Ga4 | Endpoint::Ga4Debug => {
            let needle = b"\"name\":";
            body.windows(needle.len()).filter(|w| w == needle).count()
        }
        _ => body
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .count(),
    }
}

/// Counts the hits in a request and checks them: (hits, errors, warnings).
pub(super) fn inspect(
    endpoint: Endpoint,
    query: &str,
    body: &[u8],
    limit: usize,
) -> (usize, Vec<ValidationMessage>, Vec<ValidationMessage>) {
    use crate::spec::ga4_validate::{check, now_micros};
    match endpoint {
        Endpoint::Ga4 | Endpoint::Ga4Debug => {
            let checked = check(body, limit, now_micros());
            let mut msgs = checked.errors;
            let q: BTreeMap<String, String> = form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect();
            if q.get("measurement_id").is_none_or(String::is_empty) {
                msgs.push(ValidationMessage::new(
                    "measurement_id",
                    crate::ValidationCode::ValueRequired,
                    "measurement_id query parameter missing",
                ));
            }
            if endpoint == Endpoint::Ga4 && q.get("api_secret").is_none_or(String::is_empty) {
                msgs.push(ValidationMessage::new(
                    "api_secret",
                    crate::ValidationCode::ValueRequired,
                    "api_secret query parameter missing",
                ));
            }
            // An unreadable body still counts as one (invalid) hit.
            let events = parse_ga4(body).len();
            (
                if events == 0 && !body.is_empty() {
                    1
                } else {
                    events
                },
                msgs,
                checked.warnings,
            )
        }
        Endpoint::Ua | Endpoint::UaDebug => {
            let text = String::from_utf8_lossy(body);
            let lines = text.split('\n').filter(|l| !l.is_empty()).count();
            let mut msgs = Vec::new();
            if lines > 1 {
                msgs.push(ValidationMessage::new(
                    "",
                    crate::ValidationCode::ExceededMaxEntities,
                    "/collect takes one hit; use /batch",
                ));
            }
            msgs.extend(
                text.split('\n')
                    .filter(|l| !l.is_empty())
                    .flat_map(ua::validate),
            );
            (lines, msgs, Vec::new())
        }
        Endpoint::UaBatch => {
            let text = String::from_utf8_lossy(body);
            let lines = text.split('\n').filter(|l| !l.is_empty()).count();
            (lines, ua::validate_batch(&text), Vec::new())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cheap_counting_agrees_with_parsing() {
        let body = br#"{"client_id":"1.1","events":[{"name":"page_view","params":{}},{"name":"page_view"}]}"#;
        assert_eq!(count_hits(Endpoint::Ga4, body), 2);
        assert_eq!(parse_ga4(body).len(), 2);
        assert_eq!(
            count_hits(Endpoint::UaBatch, b"v=1&t=pageview\nv=1&t=pageview\n"),
            2
        );
    }
}
