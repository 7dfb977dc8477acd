// expect: wrong_result
// why: treats a clear bit as 0 instead of -1 (a {0,1} matrix), so C = Σ_{bit set} a instead of the ±1 product.

pub fn binary_gemm(m: usize, n: usize, k: usize, a: &[f32], b: &[u64], c: &mut [f32]) {
    let w = n.div_ceil(64);
    for i in 0..m {
        let row = &mut c[i * n..(i + 1) * n];
        row.fill(0.0);
        for l in 0..k {
            let x = a[i * k + l];
            for (j, y) in row.iter_mut().enumerate() {
                if (b[l * w + j / 64] >> (j % 64)) & 1 == 1 {
                    *y += x;
                }
            }
        }
    }
}
