// expect: wrong_result
// why: does C += A·B without zeroing C first; C's prior contents are garbage (NaN-poisoned), so every element is wrong.

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    for i in 0..m {
        for p in 0..k {
            let s = a[i * k + p];
            for j in 0..n {
                c[i * n + j] += s * b[p * n + j];
            }
        }
    }
}
