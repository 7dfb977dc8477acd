// expect: passed
// why: rayon over rows of C; per row computes S_j = Σ_{bit set} a[l] with a 0/1 mask multiply and the row sum T, then C = 2·S − T; correct within the bound.
use rayon::prelude::*;

pub fn binary_gemm(m: usize, n: usize, k: usize, a: &[f32], b: &[u64], c: &mut [f32]) {
    if n == 0 {
        return;
    }
    let w = n.div_ceil(64);
    let b = &b[..k * w];
    c[..m * n].par_chunks_mut(n).enumerate().for_each(|(i, row)| {
        let arow = &a[i * k..(i + 1) * k];
        let total: f32 = arow.iter().sum();
        let mut s = vec![0.0f32; w * 64];
        for (l, &x) in arow.iter().enumerate() {
            for (q, &word) in b[l * w..(l + 1) * w].iter().enumerate() {
                for (j, y) in s[q * 64..q * 64 + 64].iter_mut().enumerate() {
                    *y += x * ((word >> j) & 1) as f32;
                }
            }
        }
        for (out, v) in row.iter_mut().zip(&s) {
            *out = 2.0 * *v - total;
        }
    });
}
