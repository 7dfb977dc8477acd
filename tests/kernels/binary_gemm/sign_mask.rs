// expect: passed
// why: flips the sign bit of a[i][l] with a per-column XOR mask built from the clear bits of each 64-bit word (branch-free, vectorisable), accumulating into a 64-padded row buffer; correct.

pub fn binary_gemm(m: usize, n: usize, k: usize, a: &[f32], b: &[u64], c: &mut [f32]) {
    let w = n.div_ceil(64);
    let mut acc = vec![0.0f32; w * 64];
    for i in 0..m {
        acc.fill(0.0);
        for l in 0..k {
            let xb = a[i * k + l].to_bits();
            for (q, &word) in b[l * w..(l + 1) * w].iter().enumerate() {
                let neg = !word;
                let lane = &mut acc[q * 64..q * 64 + 64];
                for (j, y) in lane.iter_mut().enumerate() {
                    let sign = (((neg >> j) & 1) as u32) << 31;
                    *y += f32::from_bits(xb ^ sign);
                }
            }
        }
        c[i * n..(i + 1) * n].copy_from_slice(&acc[..n]);
    }
}
