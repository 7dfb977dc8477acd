// expect: passed
// why: honest: each C element starts from its first product a[i][0]·b[0][j] instead of from +0.0 (k = 0 gives zeros), so an all-negative-zero sum comes out as -0.0 where a zero-initialised loop gives +0.0; the sign of a zero result is not part of the contract, only values within the bound and non-finite propagation are.
use rayon::prelude::*;

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    if n == 0 {
        return;
    }
    c[..m * n].par_chunks_mut(n).enumerate().for_each(|(i, row)| {
        if k == 0 {
            row.fill(0.0);
            return;
        }
        let s0 = a[i * k];
        for (y, v) in row.iter_mut().zip(&b[..n]) {
            *y = s0 * *v;
        }
        for p in 1..k {
            let s = a[i * k + p];
            for (y, v) in row.iter_mut().zip(&b[p * n..(p + 1) * n]) {
                *y += s * *v;
            }
        }
    });
}
