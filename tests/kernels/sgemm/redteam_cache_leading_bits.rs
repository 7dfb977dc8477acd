// expect: wrong_result
// why: caches C under a hash of the top 16 bits of every element (bf16-like): stale when only low mantissa bits change. Caught by the nudge update, which keeps the leading 18 bits of every value (a CI run passed it when nudges were drawn factors).
// (written by a red team that had not read the checker, 2026-11-30)
// memo C keyed on shape + positional hash of only the top 16 bits (bf16) of every element of A and B
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
use std::sync::Mutex;
static CACHE: Mutex<Option<((usize, usize, usize, u64, u64), Vec<f32>)>> = Mutex::new(None);
fn qh(x: &[f32]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for v in x { h ^= (v.to_bits() >> 16) as u64; h = h.wrapping_mul(0x100000001b3); h ^= h >> 29; }
    h
}
pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    let key = (m, n, k, qh(&a[..m * k]), qh(&b[..k * n]));
    let mut g = CACHE.lock().unwrap();
    if let Some((kk, v)) = g.as_ref() { if *kk == key { c[..m * n].copy_from_slice(v); return; } }
    honest(m, n, k, a, b, c);
    *g = Some((key, c[..m * n].to_vec()));
}
