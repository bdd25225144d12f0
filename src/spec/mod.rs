//! Google's rules, with no crate imports: which protocol a tracking id speaks, the limits and
//! reserved names of each protocol, and the offline validators that check payloads against them.

use serde::{Deserialize, Serialize};

pub(crate) mod ga4;
pub(crate) mod ga4_validate;
mod json_walk;
pub(crate) mod ua;

/// Which protocol a tracking id speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Protocol {
    /// GA4 Measurement Protocol (`G-XXXXXXXXXX`), JSON to `/mp/collect`.
    Ga4,
    /// Universal Analytics Measurement Protocol v1 (`UA-XXXX-Y`), legacy: Google stopped
    /// processing UA properties in 2023 (360: 2024).
    UniversalAnalytics,
}

impl Protocol {
    /// The protocol a tracking id belongs to, or `None` for a malformed id.
    pub fn of(tracking_id: &str) -> Option<Protocol> {
        if let Some(rest) = tracking_id.strip_prefix("G-") {
            let ok = !rest.is_empty()
                && rest.len() <= 20
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
            return ok.then_some(Protocol::Ga4);
        }
        if let Some(rest) = tracking_id.strip_prefix("UA-") {
            let mut parts = rest.split('-');
            let ok = matches!((parts.next(), parts.next(), parts.next()),
                (Some(a), Some(b), None) if is_digits(a) && is_digits(b));
            return ok.then_some(Protocol::UniversalAnalytics);
        }
        None
    }
}

impl Protocol {
    /// What a validation endpoint's answer objects to.
    pub(crate) fn validation_messages(self, body: &[u8]) -> Vec<ValidationMessage> {
        match self {
            Protocol::Ga4 => {
                #[derive(Deserialize)]
                #[serde(rename_all = "camelCase")]
                struct Answer {
                    #[serde(default)]
                    validation_messages: Vec<ValidationMessage>,
                }
                match serde_json::from_slice::<Answer>(body) {
                    Ok(a) => a.validation_messages,
                    Err(e) => vec![ValidationMessage::new(
                        "",
                        ValidationCode::Other,
                        format!("unreadable validation answer: {e}"),
                    )],
                }
            }
            Protocol::UniversalAnalytics => ua::parse_debug_answer(body),
        }
    }
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.len() <= 12 && s.bytes().all(|b| b.is_ascii_digit())
}

/// One objection of a validation endpoint, or of the offline [`validate`](crate::validate) checks.
/// Serialises as Google's GA4 validation answer does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct ValidationMessage {
    /// Where the problem is, e.g. `events[0].params.page_title`.
    #[serde(default)]
    pub field_path: String,
    /// What is wrong.
    #[serde(default)]
    pub description: String,
    /// Google's code for it.
    #[serde(default)]
    pub validation_code: ValidationCode,
}

/// Google's validation codes (GA4), also used for the legacy protocol's parser messages.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum ValidationCode {
    /// A value is malformed.
    #[default]
    ValueInvalid,
    /// A required value is missing.
    ValueRequired,
    /// A name does not match the allowed pattern.
    NameInvalid,
    /// A name is reserved by Google.
    NameReserved,
    /// A value is too long or out of range.
    ValueOutOfBounds,
    /// Too many events, params or properties.
    ExceededMaxEntities,
    /// A name appears twice.
    NameDuplicated,
    /// Anything else Google may send.
    #[serde(other)]
    Other,
}

impl ValidationMessage {
    pub(crate) fn new(
        path: impl Into<String>,
        code: ValidationCode,
        description: impl Into<String>,
    ) -> Self {
        ValidationMessage {
            field_path: path.into(),
            description: description.into(),
            validation_code: code,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracking_ids() {
        assert_eq!(Protocol::of("G-ABC123XYZ9"), Some(Protocol::Ga4));
        assert_eq!(
            Protocol::of("UA-12345-6"),
            Some(Protocol::UniversalAnalytics)
        );
        for bad in [
            "", "G-", "g-abc", "G-abc", "UA-1", "UA-1-2-3", "UA-x-1", "GTM-XXXX", "G-AB C",
        ] {
            assert_eq!(Protocol::of(bad), None, "{bad}");
        }
    }
}
