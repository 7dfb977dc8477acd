// expect: timeout
// why: blocked loop whose step is computed as k / (k + 1) == 0, so the column cursor never advances: spins forever.

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    let step = k / (k + 1);
    let mut j0 = 0;
    while j0 < n {
        for i in 0..m {
            for j in j0..(j0 + step).min(n) {
                let mut s = 0.0f32;
                for p in 0..k {
                    s += a[i * k + p] * b[p * n + j];
                }
                c[i * n + j] = s;
            }
        }
        j0 += step;
        std::hint::spin_loop();
    }
}
