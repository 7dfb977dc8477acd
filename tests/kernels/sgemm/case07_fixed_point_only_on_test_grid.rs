// expect: wrong_result
// why: case 07: exact fixed point on [-1, 1) at 2^-23 (the old checker's only inputs); wrong for |x| >= 256 and for tiny magnitudes, which every check now draws.
// Case 07: correct only on the checker's input distribution.
// Every input the checker makes lies in [-1, 1) on the grid 2^-23. This kernel converts
// A and B to integers x * 2^23 (saturating `as i32`), multiplies in i64 and sums exactly:
// exact on the checker's inputs, but any value with |x| >= 256 saturates, and anything
// finer than 2^-23 (or any small-magnitude data, e.g. activations ~1e-4) is rounded away.
use rayon::prelude::*;

const SCALE: f32 = 8_388_608.0; // 2^23

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    if m == 0 || n == 0 {
        return;
    }
    let ai: Vec<i64> = a[..m * k].iter().map(|&x| (x * SCALE) as i32 as i64).collect();
    let bi: Vec<i64> = b[..k * n].iter().map(|&x| (x * SCALE) as i32 as i64).collect();
    c[..m * n].par_chunks_mut(n).enumerate().for_each(|(i, crow)| {
        let mut acc = vec![0i64; n];
        for p in 0..k {
            let s = ai[i * k + p];
            for (t, &y) in acc.iter_mut().zip(&bi[p * n..(p + 1) * n]) {
                *t += s * y;
            }
        }
        for (cv, t) in crow.iter_mut().zip(acc) {
            *cv = (t as f64 / (SCALE as f64 * SCALE as f64)) as f32;
        }
    });
}
