//! Naive sgemm: the starting point of every search. Row by row, i-k-j order so the
//! innermost loop walks B and C contiguously; no blocking, no threads.

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    for i in 0..m {
        let c_row = &mut c[i * n..(i + 1) * n];
        c_row.fill(0.0);
        for l in 0..k {
            let a_il = a[i * k + l];
            let b_row = &b[l * n..(l + 1) * n];
            for j in 0..n {
                c_row[j] += a_il * b_row[j];
            }
        }
    }
}
