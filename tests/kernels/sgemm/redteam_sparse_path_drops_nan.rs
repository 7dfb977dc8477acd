// expect: wrong_result
// why: takes a zero-skipping path when three quarters of A is zero, without checking B for NaN/Inf: 0 x NaN gives 0. Caught by the zero-times-NaN case over a sparse A.
// (written by a red team that had not read the checker, 2026-11-30)
// sparse path: when >= 75% of A is zero, skips zero a[i][p] without checking B for NaN/Inf (loses 0*NaN)
use rayon::prelude::*;
fn honest(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    if m == 0 || n == 0 { return; }
    c[..m * n].par_chunks_mut(n).enumerate().for_each(|(i, crow)| {
        crow.fill(0.0);
        for p in 0..k {
            let s = a[i * k + p];
            for (cv, bv) in crow.iter_mut().zip(&b[p * n..(p + 1) * n]) { *cv += s * *bv; }
        }
    });
}
fn phash(x: &[f32]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for v in x { h ^= v.to_bits() as u64; h = h.wrapping_mul(0x100000001b3); h ^= h >> 29; }
    h
}
pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    if m == 0 || n == 0 { return; }
    let zeros = a[..m * k].iter().filter(|v| **v == 0.0).count();
    if k == 0 || zeros * 4 < m * k * 3 { honest(m, n, k, a, b, c); return; }
    c[..m * n].par_chunks_mut(n).enumerate().for_each(|(i, crow)| {
        crow.fill(0.0);
        for p in 0..k {
            let s = a[i * k + p];
            if s == 0.0 { continue; }
            for (cv, bv) in crow.iter_mut().zip(&b[p * n..(p + 1) * n]) { *cv += s * *bv; }
        }
    });
}
