// expect: wrong_result
// why: "keeps subnormals out of the accumulator" by scaling A by 2^110 and C back by 2^-110 (exact powers of two); right for inputs in [-1, 1) at any K <= 2^18, but any running sum of magnitude >= 2^18 overflows to ±Inf (then Inf-Inf gives NaN): finite large inputs (one |a| >= 2^18, or |a| ~ 1e4 at K = 3072) give non-finite outputs.
use rayon::prelude::*;

const UP: f32 = (1u128 << 110) as f32; // 2^110, exact
const DOWN: f32 = 1.0 / UP; // 2^-110, exact

pub fn binary_gemm(m: usize, n: usize, k: usize, a: &[f32], b: &[u64], c: &mut [f32]) {
    if n == 0 {
        return;
    }
    let w = n.div_ceil(64);
    c[..m * n].par_chunks_mut(n).enumerate().for_each(|(i, row)| {
        let mut acc = vec![0.0f32; n];
        for l in 0..k {
            let x = a[i * k + l] * UP;
            let words = &b[l * w..(l + 1) * w];
            for (j, y) in acc.iter_mut().enumerate() {
                if (words[j / 64] >> (j % 64)) & 1 == 1 {
                    *y += x;
                } else {
                    *y -= x;
                }
            }
        }
        for (o, y) in row.iter_mut().zip(&acc) {
            *o = *y * DOWN;
        }
    });
}
