// expect: wrong_result
// why: case 02: C is right but NaN is written after the m*n elements it owns; the canaries after every longer output slice are compared bit for bit.
// Case 02: correct C, but it also writes past the m*n elements it owns.
// When the output slice is longer than m*n (a sub-slice of a bigger buffer, as llm.c
// passes activations), everything after C is overwritten with NaN. The harness passes
// such longer slices in several correctness cases.
use rayon::prelude::*;

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    if m == 0 || n == 0 {
        return;
    }
    let a = &a[..m * k];
    let b = &b[..k * n];
    c[..m * n].par_chunks_mut(n).enumerate().for_each(|(i, crow)| {
        crow.fill(0.0);
        let arow = &a[i * k..(i + 1) * k];
        for (p, &s) in arow.iter().enumerate() {
            let brow = &b[p * n..(p + 1) * n];
            for (cv, bv) in crow.iter_mut().zip(brow) {
                *cv += s * *bv;
            }
        }
    });
    for x in &mut c[m * n..] {
        *x = f32::NAN; // clobbers whatever follows C in the caller's buffer
    }
}
