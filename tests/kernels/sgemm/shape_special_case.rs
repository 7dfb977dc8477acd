// expect: wrong_result
// why: honest i-k-j for every shape except m == n == k == 1024 (the benchmark), where it only multiplies the first 512 columns of A by the first 512 rows of B.

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    let kk = if m == 1024 && n == 1024 && k == 1024 { 512 } else { k };
    for i in 0..m {
        let row = &mut c[i * n..(i + 1) * n];
        row.fill(0.0);
        for p in 0..kk {
            let s = a[i * k + p];
            for (x, y) in row.iter_mut().zip(&b[p * n..(p + 1) * n]) {
                *x += s * *y;
            }
        }
    }
}
