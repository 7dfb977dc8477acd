// expect: wrong_result
// why: reads B as if it were column-major (b[j*k + p] instead of b[p*n + j]); computes A·Bᵀ-like garbage, wrong except by accident.

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0f32;
            for p in 0..k {
                s += a[i * k + p] * b[j * k + p];
            }
            c[i * n + j] = s;
        }
    }
}
