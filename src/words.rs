//! Looking at text eight bytes at a time (one `u64` word): where a byte-by-byte loop would pass
//! over most bytes, these find the first byte that needs a look. Each finder sets the high bit of
//! the lowest byte that matches (bits above it may be set too, by a borrow), so only the lowest
//! set bit says where.

const LOW: u64 = 0x0101_0101_0101_0101;
/// The high bit of every byte: `w & HIGH` finds a byte that is not ASCII.
pub const HIGH: u64 = 0x8080_8080_8080_8080;

/// Finds a byte of `w` equal to `b`.
pub fn has_byte(w: u64, b: u8) -> u64 {
    let x = w ^ (LOW * u64::from(b));
    x.wrapping_sub(LOW) & !x & HIGH
}

/// Finds a byte of `w` below `n` (`n` at most 128).
pub fn has_below(w: u64, n: u8) -> u64 {
    debug_assert!(n <= 128);
    w.wrapping_sub(LOW * u64::from(n)) & !w & HIGH
}

/// From `p`, skips the whole 8-byte words of `bytes` in which `found` sets no bit, up to the
/// first word where it does (then to its byte: the lowest set bit). The bytes skipped are the
/// ones the caller's byte-by-byte loop would pass over anyway; it goes on from there.
pub fn skip_words(bytes: &[u8], mut p: usize, found: impl Fn(u64) -> u64) -> usize {
    while let Some(chunk) = bytes.get(p..p + 8) {
        let w = u64::from_le_bytes(chunk.try_into().unwrap_or([0; 8]));
        let m = found(w);
        if m != 0 {
            return p + (m.trailing_zeros() / 8) as usize;
        }
        p += 8;
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The first place from 0 at which `found` stops, against the byte-by-byte answer `at`.
    fn first(bytes: &[u8], found: impl Fn(u64) -> u64, at: impl Fn(u8) -> bool) {
        let p = skip_words(bytes, 0, found);
        let expected = bytes.iter().position(|&b| at(b)).unwrap_or(bytes.len());
        // The words skipped hold no byte sought; the rest is left to the caller's loop.
        assert!(p <= expected, "{bytes:?}: {p} past {expected}");
        assert!(
            p == expected || bytes.len() - p < 8,
            "{bytes:?}: stopped at {p}, the first is at {expected}"
        );
    }

    #[test]
    fn each_finder_stops_at_the_first_byte_it_seeks_and_never_past_it() {
        // Every byte value at every place of a word, after and before every other value that
        // matters (a borrow from a lower byte must not hide or move the first match).
        let near = [
            0u8, 1, 0x1f, 0x20, 0x21, b'"', b'\\', b'=', 0x7f, 0x80, 0xc3, 0xff,
        ];
        for len in [8usize, 9, 16, 17] {
            for place in 0..len.min(16) {
                for b in 0..=255u8 {
                    for &other in &near {
                        let mut bytes = vec![b'a'; len];
                        bytes[place] = b;
                        if place + 1 < len {
                            bytes[place + 1] = other;
                        }
                        if place > 0 {
                            bytes[place - 1] = other;
                        }
                        first(&bytes, |w| has_byte(w, b'"'), |c| c == b'"');
                        first(&bytes, |w| has_below(w, b' '), |c| c < b' ');
                        first(&bytes, |w| w & HIGH, |c| c >= 0x80);
                        first(
                            &bytes,
                            |w| has_byte(w, b'"') | has_byte(w, b'\\') | has_below(w, b' '),
                            |c| c == b'"' || c == b'\\' || c < b' ',
                        );
                    }
                }
            }
        }
    }
}
