// expect: rejected
// why: declares an extern "C" block to call the system's cblas_sgemm directly; extern is banned.

#[link(name = "openblas")]
unsafe extern "C" {
    fn cblas_sgemm(layout: i32, ta: i32, tb: i32, m: i32, n: i32, k: i32, alpha: f32,
                   a: *const f32, lda: i32, b: *const f32, ldb: i32, beta: f32,
                   c: *mut f32, ldc: i32);
}

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    let _ = cblas_sgemm as usize;
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
