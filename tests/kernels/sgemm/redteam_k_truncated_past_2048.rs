// expect: wrong_result
// why: never adds the K panel after 2048, so any k > 2048 is truncated; the catalogue and the benchmark never go past 1024. Caught by the case with a reduction of 2049-6144.
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

// K-blocked with KC = 2048: the second K panel (p >= 2048) is never added, so every shape with
// k > 2048 (e.g. an MLP's 4x-wide layer, k = 3072) silently loses the tail of each dot product.
pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    if k <= 2048 { return honest(m, n, k, a, b, c); }
    let kc = 2048;
    if m == 0 || n == 0 { return; }
    c[..m * n].par_chunks_mut(n).enumerate().for_each(|(i, crow)| {
        crow.fill(0.0);
        for p in 0..kc {
            let s = a[i * k + p];
            for (cv, bv) in crow.iter_mut().zip(&b[p * n..(p + 1) * n]) { *cv += s * *bv; }
        }
    });
}
