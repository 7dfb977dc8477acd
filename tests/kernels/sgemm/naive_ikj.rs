// expect: passed
// why: plain single-threaded i-k-j triple loop over the leading m*k / k*n / m*n elements; correct on every shape.

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    for i in 0..m {
        let row = &mut c[i * n..i * n + n];
        for x in row.iter_mut() {
            *x = 0.0;
        }
        for p in 0..k {
            let s = a[i * k + p];
            let brow = &b[p * n..p * n + n];
            for j in 0..n {
                row[j] += s * brow[j];
            }
        }
    }
}
