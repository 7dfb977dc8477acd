// expect: rejected
// why: exports a #[unsafe(no_mangle)] symbol that could shadow/interpose a symbol of the harness or OpenBLAS at link time; banned.

#[unsafe(no_mangle)]
pub extern "C" fn cblas_sgemm() {}

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
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
