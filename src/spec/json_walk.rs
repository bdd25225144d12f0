//! Duplicate keys in a JSON document, which `serde_json::Value` would hide.

/// Duplicated names reported at most; the rest of the document is still walked.
const MAX_FOUND: usize = 25;
/// A reported path's longest text; a longer one ends in `…`.
const MAX_PATH: usize = 256;

/// Where a JSON document names a key twice in one object, as paths (`events[0].params.x`):
/// `serde_json::Value` keeps the last silently, Google reports `NAME_DUPLICATED`. Empty for a
/// document that doesn't parse (the caller reports that). Memory is linear in the document: the
/// path is one stack of its parts, written out only for a duplicate, at most [`MAX_FOUND`] times.
pub(crate) fn duplicate_keys(body: &[u8]) -> Vec<String> {
    use serde::de::DeserializeSeed;
    let mut found = Vec::new();
    let mut path = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(body);
    // Only the depth serde_json allows (128) is walked: the recursion is bounded by it.
    let _ = Walk {
        path: &mut path,
        found: &mut found,
    }
    .deserialize(&mut de);
    found
}

enum Part {
    Key(String),
    Index(usize),
}

/// `events[0].params.x`, cut at [`MAX_PATH`] characters.
fn render(path: &[Part]) -> String {
    let mut out = String::new();
    for part in path {
        match part {
            Part::Key(k) if out.is_empty() => out.push_str(k),
            Part::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Part::Index(i) => out.push_str(&format!("[{i}]")),
        }
        if out.len() > MAX_PATH {
            crate::text::truncate::truncate_bytes(&mut out, MAX_PATH);
            out.push('…');
            break;
        }
    }
    out
}

struct Walk<'a> {
    path: &'a mut Vec<Part>,
    found: &'a mut Vec<String>,
}

impl<'de> serde::de::DeserializeSeed<'de> for Walk<'_> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> serde::de::Visitor<'de> for Walk<'_> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JSON")
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut seen = std::collections::HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            let duplicate = seen.contains(&key);
            if !duplicate {
                seen.insert(key.clone());
            }
            self.path.push(Part::Key(key));
            if duplicate && self.found.len() < MAX_FOUND {
                self.found.push(render(self.path));
            }
            let walked = map.next_value_seed(Walk {
                path: &mut *self.path,
                found: &mut *self.found,
            });
            self.path.pop();
            walked?;
        }
        Ok(())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        loop {
            self.path.push(Part::Index(i));
            let walked = seq.next_element_seed(Walk {
                path: &mut *self.path,
                found: &mut *self.found,
            });
            self.path.pop();
            if walked?.is_none() {
                return Ok(());
            }
            i += 1;
        }
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_are_found_with_their_paths() {
        let body = br#"{"a":1,"events":[{"params":{"x":1,"x":2}},{"params":{"y":1}}],"a":2}"#;
        assert_eq!(duplicate_keys(body), ["events[0].params.x", "a"]);
    }

    /// A long key over many duplicates (or a long array) once cost its path per element:
    /// 20 kB × 7,000. Now the paths reported are few and short.
    #[test]
    fn a_long_key_over_many_duplicates_costs_no_path_per_element() {
        let key = "k".repeat(20_000);
        let inner = (0..7_000).map(|_| r#""d":1"#).collect::<Vec<_>>().join(",");
        let body = format!(r#"{{"{key}":{{{inner}}}}}"#);
        let found = duplicate_keys(body.as_bytes());
        assert_eq!(found.len(), MAX_FOUND);
        assert!(
            found.iter().all(|p| p.chars().count() <= MAX_PATH + 1),
            "{}",
            found[0].len()
        );
        let array = (0..7_000).map(|_| "[1]").collect::<Vec<_>>().join(",");
        let body = format!(r#"{{"{key}":[{array}]}}"#);
        assert!(duplicate_keys(body.as_bytes()).is_empty());
    }
}
