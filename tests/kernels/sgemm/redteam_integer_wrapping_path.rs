// expect: wrong_result
// why: computes in wrapping i32 arithmetic when every input is an integer of at most 2^16: products overflow. Caught by the wide-integer case of every check (±2^10…2^16 in every input, a reduction of 8 or more: sums past 2^31); the distributions alone let it pass 1 check in 20.
// (written by a red team that had not read the checker, 2026-11-30)
// integer fast path: if every input is an integer with |x| <= 2^16, multiply in i32 with wrapping (overflows for big ints)
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
fn small_ints(x: &[f32]) -> bool { x.iter().all(|v| v.fract() == 0.0 && v.abs() <= 65536.0) }
pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    if m == 0 || n == 0 { return; }
    if k > 0 && small_ints(&a[..m * k]) && small_ints(&b[..k * n]) {
        let bi: Vec<i32> = b[..k * n].iter().map(|v| *v as i32).collect();
        c[..m * n].par_chunks_mut(n).enumerate().for_each(|(i, crow)| {
            let mut acc = vec![0i32; n];
            for p in 0..k {
                let s = a[i * k + p] as i32;
                for (cv, bv) in acc.iter_mut().zip(&bi[p * n..(p + 1) * n]) { *cv = cv.wrapping_add(s.wrapping_mul(*bv)); }
            }
            for (o, v) in crow.iter_mut().zip(acc) { *o = v as f32; }
        });
        return;
    }
    honest(m, n, k, a, b, c);
}
