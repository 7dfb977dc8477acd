// expect: wrong_result
// why: honest below 2^24 multiply-adds; above that it only sums every other term of k (half the work), so C is finite but wrong at the benchmark shape.

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    let step = if m * n * k > (1 << 24) { 2 } else { 1 };
    for i in 0..m {
        let row = &mut c[i * n..(i + 1) * n];
        row.fill(0.0);
        for p in (0..k).step_by(step) {
            let s = a[i * k + p];
            for (x, y) in row.iter_mut().zip(&b[p * n..(p + 1) * n]) {
                *x += s * *y;
            }
        }
    }
}
