// expect: wrong_result
// why: rounds A and B to a 24-bit grid set by each matrix's largest value, then multiplies exactly in f64: within bound on rows of similar scale, but a quiet row next to a loud one loses every digit (row 0 of A at 1e-8 gives C's row 0 = 0). Caught by rows and columns of their own scales (and per-element scales), each element held to its own row's bound.
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

// "Block floating point": A and B are each quantised to a 24-bit grid relative to their own
// largest magnitude (one shared exponent per matrix, like MX/BFP formats), then multiplied
// exactly in f64. Fine when all values have similar magnitude; rows (or columns) much smaller
// than the matrix's max are rounded to zero or to a few bits.
fn quantise(x: &[f32]) -> Vec<f64> {
    let mx = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    if mx == 0.0 { return x.iter().map(|&v| v as f64).collect(); }
    let e = (mx as f64).log2().ceil();
    let step = (2.0f64).powf(e - 24.0);
    x.iter().map(|&v| ((v as f64) / step).round() * step).collect()
}

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    if m == 0 || n == 0 { return; }
    let a = &a[..m * k];
    let b = &b[..k * n];
    if a.iter().chain(b.iter()).any(|v| !v.is_finite()) { honest(m, n, k, a, b, c); return; }
    let aq = quantise(a);
    let bq = quantise(b);
    c[..m * n].par_chunks_mut(n).enumerate().for_each(|(i, crow)| {
        let mut acc = vec![0.0f64; n];
        for p in 0..k {
            let s = aq[i * k + p];
            for (t, &y) in acc.iter_mut().zip(&bq[p * n..(p + 1) * n]) { *t += s * y; }
        }
        for (cv, t) in crow.iter_mut().zip(acc) { *cv = t as f32; }
    });
}
