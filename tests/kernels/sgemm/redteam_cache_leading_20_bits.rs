// expect: wrong_result
// why: caches C under a hash of the leading 20 bits of every value. Caught by the nudge, which takes the lowest mantissa bit whose change shows (bits 8…13); with the bit drawn it passed 4 of 5 checks.
// (written by a red team that had not read the checker, 2026-12-01)
// WRONG: result cache keyed on a hash of the leading 20 bits of every input (11 mantissa bits); a change in mantissa bits 12..23 (e.g. one element x -> x*(1+2^-13)) returns the stale C.
use rayon::prelude::*;
pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    let (a, b) = (&a[..m * k], &b[..k * n]);
    let mut h = 7u64;
    for x in a.iter().chain(b.iter()) { h = mix(h, (x.to_bits() >> 12) as u64); }
    cached(m, n, k, a, b, c, vec![m as u64, n as u64, k as u64, h]);
}
// ---- honest core ----
fn honest(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    let c = &mut c[..m * n];
    if n == 0 { return; }
    const RB: usize = 8;
    const KB: usize = 256;
    c.par_chunks_mut(RB * n).enumerate().for_each(|(blk, cblk)| {
        for x in cblk.iter_mut() { *x = 0.0; }
        let i0 = blk * RB;
        let rows = cblk.len() / n;
        let mut p0 = 0;
        while p0 < k {
            let p1 = (p0 + KB).min(k);
            for r in 0..rows {
                let i = i0 + r;
                let crow = &mut cblk[r * n..(r + 1) * n];
                let arow = &a[i * k..i * k + k];
                for p in p0..p1 {
                    let av = arow[p];
                    let brow = &b[p * n..p * n + n];
                    for (cv, bv) in crow.iter_mut().zip(brow.iter()) {
                        *cv += av * *bv;
                    }
                }
            }
            p0 = p1;
        }
    });
}
// ---- cache helpers ----
use std::sync::Mutex;
static CACHE: Mutex<Vec<(Vec<u64>, Vec<f32>)>> = Mutex::new(Vec::new());
fn mix(h: u64, x: u64) -> u64 { (h ^ x).wrapping_mul(0x100000001b3).rotate_left(17).wrapping_add(0x9e3779b97f4a7c15) }
fn lookup(key: &[u64], c: &mut [f32]) -> bool {
    let g = CACHE.lock().unwrap();
    for (kk, v) in g.iter() {
        if kk.as_slice() == key { c[..v.len()].copy_from_slice(v); return true; }
    }
    false
}
fn store(key: Vec<u64>, c: &[f32]) {
    let mut g = CACHE.lock().unwrap();
    if g.len() >= 4 { g.remove(0); }
    g.push((key, c.to_vec()));
}
fn cached(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32], key: Vec<u64>) {
    if lookup(&key, c) { return; }
    honest(m, n, k, a, b, c);
    store(key, &c[..m * n]);
}
