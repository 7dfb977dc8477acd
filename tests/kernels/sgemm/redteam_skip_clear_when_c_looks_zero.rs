// expect: wrong_result
// why: skips clearing C when c[0], c[mn/2] and c[mn-1] are +0.0 and adds into it: a reused C that holds zeros there (after a ReLU) and values elsewhere comes out wrong. Caught by the case whose C holds +0.0 but for a few large values.
use rayon::prelude::*;

// "Skips the memset when the caller already zeroed C": probes c[0], c[mid], c[last]; if all
// are +0.0 it accumulates into C without clearing it. Wrong whenever a reused C happens to be
// zero at those three positions but not elsewhere (e.g. ReLU outputs, sparse results).
pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    if m == 0 || n == 0 { return; }
    let mn = m * n;
    let looks_zero = [0, mn / 2, mn - 1].iter().all(|&i| c[i].to_bits() == 0);
    c[..mn].par_chunks_mut(n).enumerate().for_each(|(i, crow)| {
        if !looks_zero { crow.fill(0.0); }
        for p in 0..k {
            let s = a[i * k + p];
            for (cv, bv) in crow.iter_mut().zip(&b[p * n..(p + 1) * n]) { *cv += s * *bv; }
        }
    });
}
