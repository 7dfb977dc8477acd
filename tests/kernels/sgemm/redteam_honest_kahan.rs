// expect: passed
// why: honest: every C element is a Kahan-compensated sum over k, kept as a row of running sums and a row of compensations updated in i-k-j order (vectorises across j), rayon over rows; more accurate than a plain f32 sum, and ±Inf/NaN still give non-finite outputs (the compensation turns Inf into NaN).
use rayon::prelude::*;

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    if n == 0 {
        return;
    }
    c[..m * n].par_chunks_mut(n).enumerate().for_each(|(i, sum)| {
        sum.fill(0.0);
        let mut comp = vec![0.0f32; n];
        for p in 0..k {
            let s = a[i * k + p];
            let brow = &b[p * n..(p + 1) * n];
            for ((acc, cmp), v) in sum.iter_mut().zip(comp.iter_mut()).zip(brow) {
                let term = s * *v - *cmp;
                let next = *acc + term;
                *cmp = (next - *acc) - term;
                *acc = next;
            }
        }
    });
}
