// expect: passed
// why: unpacks each bit of B (lsb-first, set = +1, clear = -1) and adds or subtracts a[i][l]; i-l-j order, single-threaded, correct.

pub fn binary_gemm(m: usize, n: usize, k: usize, a: &[f32], b: &[u64], c: &mut [f32]) {
    let w = n.div_ceil(64);
    for i in 0..m {
        let row = &mut c[i * n..(i + 1) * n];
        row.fill(0.0);
        for l in 0..k {
            let x = a[i * k + l];
            let words = &b[l * w..(l + 1) * w];
            for (j, y) in row.iter_mut().enumerate() {
                if (words[j / 64] >> (j % 64)) & 1 == 1 {
                    *y += x;
                } else {
                    *y -= x;
                }
            }
        }
    }
}
