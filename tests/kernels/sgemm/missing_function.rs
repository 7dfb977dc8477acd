// expect: rejected
// why: defines `pub fn matmul` with sgemm's parameters but no `pub fn sgemm`; the required entry point is missing.

pub fn matmul(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    for i in 0..m {
        let row = &mut c[i * n..(i + 1) * n];
        row.fill(0.0);
        for p in 0..k {
            let s = a[i * k + p];
            for (x, y) in row.iter_mut().zip(&b[p * n..(p + 1) * n]) {
                *x += s * *y;
            }
        }
    }
}
