// expect: passed
// why: accumulates every row of C in an f64 buffer (more accurate than f32), rounds once at the end; rayon over rows; correct.
use rayon::prelude::*;

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    if n == 0 {
        return;
    }
    c[..m * n].par_chunks_mut(n).enumerate().for_each(|(i, crow)| {
        let mut acc = vec![0.0f64; n];
        for p in 0..k {
            let s = a[i * k + p] as f64;
            for (x, &y) in acc.iter_mut().zip(&b[p * n..(p + 1) * n]) {
                *x += s * y as f64;
            }
        }
        for (o, x) in crow.iter_mut().zip(&acc) {
            *o = *x as f32;
        }
    });
}
