// expect: passed
// why: i-k-j loop with get_unchecked after explicit length checks; unsafe but sound and correct, so with --allow-unsafe it must pass.
// flags: --allow-unsafe

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    assert!(a.len() >= m * k && b.len() >= k * n && c.len() >= m * n);
    for i in 0..m {
        for j in 0..n {
            // SAFETY: i*n + j < m*n <= c.len()
            unsafe { *c.get_unchecked_mut(i * n + j) = 0.0 };
        }
        for p in 0..k {
            // SAFETY: i*k + p < m*k <= a.len()
            let s = unsafe { *a.get_unchecked(i * k + p) };
            for j in 0..n {
                // SAFETY: p*n + j < k*n <= b.len() and i*n + j < m*n <= c.len()
                unsafe {
                    *c.get_unchecked_mut(i * n + j) += s * *b.get_unchecked(p * n + j);
                }
            }
        }
    }
}
