// expect: wrong_result
// why: infers BLAS-style leading dimensions from the slices (lda = a.len() / m, ldb = b.len() / k) instead of using k and n; right when a and b are exactly m·k and k·n long, but a longer input slice (a sub-slice of a bigger buffer) skews every row: the result then depends on the slack after the used elements.
use rayon::prelude::*;

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    if m == 0 || n == 0 {
        return;
    }
    let lda = if m > 0 { a.len() / m } else { k };
    let ldb = if k > 0 { b.len() / k } else { n };
    c[..m * n].par_chunks_mut(n).enumerate().for_each(|(i, row)| {
        row.fill(0.0);
        for p in 0..k {
            let s = a[i * lda + p];
            for (y, v) in row.iter_mut().zip(&b[p * ldb..p * ldb + n]) {
                *y += s * *v;
            }
        }
    });
}
