// expect: passed
// why: honest: each C element is a Kahan-compensated dot product of a row of A with a column of B (B transposed once into a scratch buffer for contiguous reads), rayon over rows; more accurate than a plain f32 sum, and ±Inf/NaN still give non-finite outputs (the compensation turns Inf into NaN).
use rayon::prelude::*;

fn kahan_dot(x: &[f32], y: &[f32]) -> f32 {
    let (mut sum, mut comp) = (0.0f32, 0.0f32);
    for (p, q) in x.iter().zip(y) {
        let term = p * q - comp;
        let next = sum + term;
        comp = (next - sum) - term;
        sum = next;
    }
    sum
}

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    if n == 0 {
        return;
    }
    let mut bt = vec![0.0f32; n * k];
    for p in 0..k {
        for j in 0..n {
            bt[j * k + p] = b[p * n + j];
        }
    }
    c[..m * n].par_chunks_mut(n).enumerate().for_each(|(i, row)| {
        let arow = &a[i * k..(i + 1) * k];
        for (j, y) in row.iter_mut().enumerate() {
            *y = kahan_dot(arow, &bt[j * k..(j + 1) * k]);
        }
    });
}
