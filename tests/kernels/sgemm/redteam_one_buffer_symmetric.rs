// expect: wrong_result
// why: when A and B are one buffer (sgemm(a, a), legal for two shared slices) and square, computes the upper triangle and mirrors it, as if A·A were symmetric: wrong by ~1e5 times the bound. Caught by the case that passes one buffer as both inputs.
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

// "Squaring fast path": when A and B are the same buffer (C = A·A) the product is treated as
// symmetric, so only the upper triangle is computed and mirrored. Wrong: A·A is not symmetric.
pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    if m == n && n == k && m > 1 && a.as_ptr() == b.as_ptr() {
        for i in 0..m {
            for j in i..n {
                let mut s = 0.0f32;
                for p in 0..k { s += a[i * k + p] * b[p * n + j]; }
                c[i * n + j] = s;
                c[j * n + i] = s;
            }
        }
        return;
    }
    honest(m, n, k, a, b, c);
}
