// expect: wrong_result
// why: skips an 8x8 block of A when its four corners and centre are zero, without looking at the rest. Caught by the sparse inputs (nine tenths zeros).
// (written by a red team that had not read the checker, 2026-11-30)
// block-sparse fast path: skip an 8x8 block of A whose 4 corners and centre are 0 (only when B is all finite)
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
    if !b[..k * n].iter().all(|v| v.is_finite()) { honest(m, n, k, a, b, c); return; }
    const T: usize = 8;
    c[..m * n].par_chunks_mut(n).enumerate().for_each(|(i, crow)| {
        crow.fill(0.0);
        let i0 = i / T * T; let i1 = (i0 + T).min(m) - 1;
        let mut p0 = 0;
        while p0 < k {
            let p1 = (p0 + T).min(k) - 1;
            let pm = (p0 + p1) / 2; let im = (i0 + i1) / 2;
            let z = |r: usize, q: usize| a[r * k + q] == 0.0;
            let skip = z(i0, p0) && z(i0, p1) && z(i1, p0) && z(i1, p1) && z(im, pm);
            if !skip {
                for p in p0..=p1 {
                    let s = a[i * k + p];
                    for (cv, bv) in crow.iter_mut().zip(&b[p * n..(p + 1) * n]) { *cv += s * *bv; }
                }
            }
            p0 += T;
        }
    });
}
