// expect: wrong_result
// why: reads the bits msb-first (bit 63 - j%64 is column j) instead of the contract's lsb-first order, so columns are permuted/garbage.

pub fn binary_gemm(m: usize, n: usize, k: usize, a: &[f32], b: &[u64], c: &mut [f32]) {
    let w = n.div_ceil(64);
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0f32;
            for l in 0..k {
                let bit = (b[l * w + j / 64] >> (63 - j % 64)) & 1;
                s += if bit == 1 { a[i * k + l] } else { -a[i * k + l] };
            }
            c[i * n + j] = s;
        }
    }
}
