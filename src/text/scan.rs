//! Byte scans the compiler vectorises: 16 bytes per step, with no branch inside a step, and the
//! tail padded into one more step, so that a short string costs one step too. A byte-at-a-time
//! scan costs the sender 2 to 14 % more per hit (BENCHMARKS.md, "hand-written parts").

/// Whether any byte of `bytes` is `bad`. `bad(b' ')` must be false: the tail is padded with
/// spaces.
#[inline(always)]
pub(crate) fn any_byte(bytes: &[u8], bad: impl Fn(u8) -> bool + Copy) -> bool {
    let step = |chunk: &[u8; 16]| chunk.iter().fold(false, |acc, &b| acc | bad(b));
    let mut chunks = bytes.chunks_exact(16);
    for chunk in &mut chunks {
        if step(chunk.try_into().expect("16 bytes")) {
            return true;
        }
    }
    let tail = chunks.remainder();
    let mut padded = [b' '; 16];
    padded[..tail.len()].copy_from_slice(tail);
    step(&padded)
}
