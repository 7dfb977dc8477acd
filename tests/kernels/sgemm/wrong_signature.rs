// expect: rejected
// why: pub fn sgemm takes i32 sizes and &Vec<f32> inputs instead of the exact contract signature.

pub fn sgemm(m: i32, n: i32, k: i32, a: &Vec<f32>, b: &Vec<f32>, c: &mut Vec<f32>) {
    let (m, n, k) = (m as usize, n as usize, k as usize);
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0f32;
            for p in 0..k {
                s += a[i * k + p] * b[p * n + j];
            }
            c[i * n + j] = s;
        }
    }
}
