//! A small deterministic source of numbers for the tests that feed random inputs to a function
//! and a reference (xorshift64: the same sequence every run, so a failure is found again).

/// Numbers below the bound each call is given.
pub(crate) fn below() -> impl FnMut(usize) -> usize {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    move |n| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    }
}
