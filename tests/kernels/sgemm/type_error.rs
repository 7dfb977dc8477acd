// expect: build_failed
// why: signature is exact, but the body accumulates an f64 product into an f32 without a cast (mismatched types).

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    for i in 0..m {
        for j in 0..n {
            let mut s: f32 = 0.0;
            for p in 0..k {
                s += (a[i * k + p] as f64) * (b[p * n + j] as f64);
            }
            c[i * n + j] = s;
        }
    }
}
