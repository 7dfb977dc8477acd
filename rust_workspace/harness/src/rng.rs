//! Counter-based generator of the trusted baselines' inputs and self-test lines: element
//! `idx` of stream `s` is `splitmix64(s + (idx + 1) · GOLDEN)`. Kernel calls never use it
//! (the parent makes their inputs; see roundtable_tui/kernels/inputs.py).

pub const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

pub fn splitmix64(x: u64) -> u64 {
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The seed of sub-stream `index` of `seed` (a buffer of an instance, a call of a run).
pub fn derive(seed: u64, index: u64) -> u64 {
    splitmix64(seed ^ splitmix64(index.wrapping_add(1).wrapping_mul(GOLDEN)))
}

pub fn word(stream: u64, idx: usize) -> u64 {
    splitmix64(stream.wrapping_add((idx as u64).wrapping_add(1).wrapping_mul(GOLDEN)))
}

/// A value in [-1, 1) on the grid 2⁻²³: non-integer, signed, exact in f32.
pub fn value(stream: u64, idx: usize) -> f32 {
    ((word(stream, idx) >> 40) as f32) * (1.0 / 8_388_608.0) - 1.0
}

pub fn fill(stream: u64, out: &mut [f32]) {
    for (i, x) in out.iter_mut().enumerate() {
        *x = value(stream, i);
    }
}
