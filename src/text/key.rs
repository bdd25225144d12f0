//! Keys made of parts that cannot run into each other.

/// Appends a key part: its length, then its bytes (`None` has a length no part can have).
pub(crate) fn part(key: &mut Vec<u8>, v: Option<&[u8]>) {
    match v {
        Some(b) => {
            key.extend_from_slice(&(b.len() as u32).to_le_bytes());
            key.extend_from_slice(b);
        }
        None => key.extend_from_slice(&u32::MAX.to_le_bytes()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_cannot_run_into_each_other() {
        let mut a = Vec::new();
        part(&mut a, Some(b"ab"));
        part(&mut a, Some(b"c"));
        let mut b = Vec::new();
        part(&mut b, Some(b"a"));
        part(&mut b, Some(b"bc"));
        let mut c = Vec::new();
        part(&mut c, None);
        part(&mut c, Some(b""));
        let mut d = Vec::new();
        part(&mut d, Some(b""));
        part(&mut d, None);
        assert_ne!(a, b);
        assert_ne!(c, d);
    }
}
