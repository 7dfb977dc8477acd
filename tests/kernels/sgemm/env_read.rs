// expect: rejected
// why: reads an environment variable with std::env::var to pick a code path (e.g. detect the checker); std::env is banned.

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    if std::env::var("ROUNDTABLE_CHECK").is_ok() {
        c[..m * n].fill(0.0);
    }
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
