//! Naive binary_gemm: unpack one bit per entry of B and add or subtract A's element.

pub fn binary_gemm(m: usize, n: usize, k: usize, a: &[f32], b: &[u64], c: &mut [f32]) {
    let w = n.div_ceil(64);
    for i in 0..m {
        let c_row = &mut c[i * n..(i + 1) * n];
        c_row.fill(0.0);
        for l in 0..k {
            let a_il = a[i * k + l];
            let b_row = &b[l * w..(l + 1) * w];
            for j in 0..n {
                let bit = (b_row[j / 64] >> (j % 64)) & 1;
                c_row[j] += if bit == 1 { a_il } else { -a_il };
            }
        }
    }
}
