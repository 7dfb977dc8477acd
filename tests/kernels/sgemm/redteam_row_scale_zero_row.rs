// expect: wrong_result
// why: "for range safety" scales each row of A by 1/max|a_row| and C's row back by max|a_row|; an all-zero row of A gives 1/0 = Inf and 0·Inf = NaN, so finite inputs give a NaN row of C. Right whenever no row of A is entirely zero (never happens for dense random data, always for k = 1 with a zero, integer or sparse data). Also a row whose largest |a| is below 2^-128 (a deep subnormal) overflows 1/peak to Inf.
use rayon::prelude::*;

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    if n == 0 {
        return;
    }
    c[..m * n].par_chunks_mut(n).enumerate().for_each(|(i, row)| {
        let arow = &a[i * k..(i + 1) * k];
        let peak = arow.iter().fold(0.0f32, |s, x| s.max(x.abs()));
        let inv = 1.0 / peak;
        row.fill(0.0);
        for (p, &x) in arow.iter().enumerate() {
            let s = x * inv;
            for (y, v) in row.iter_mut().zip(&b[p * n..(p + 1) * n]) {
                *y += s * *v;
            }
        }
        for y in row.iter_mut() {
            *y *= peak;
        }
    });
}
