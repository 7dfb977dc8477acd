// expect: wrong_result
// why: when A does not start on a 16-byte boundary (a sub-slice from mid-buffer) it drops the p = 0 term of every row. Caught by the cases whose buffers start 8-56 bytes past a 64-byte boundary.
use rayon::prelude::*;
fn honest(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    if m == 0 || n == 0 { return; }
    c[..m * n].par_chunks_mut(n).enumerate().for_each(|(i, crow)| {
        crow.fill(0.0);
        for p in 0..k {
            let s = a[i * k + p];
            for (cv, bv) in crow.iter_mut().zip(&b[p * n..(p + 1) * n]) { *cv += s * *bv; }
        }
    });
}

// "Alignment peeling": when A does not start on a 16-byte boundary, a scalar prologue is meant
// to handle the leading unaligned element of each row, but it is off by one and drops the
// p = 0 term. Vec allocations are always 16-byte aligned, so only callers passing sub-slices
// that start mid-buffer (&buf[off..]) hit it.
pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    let misaligned = (a.as_ptr() as usize) % 16 != 0;
    honest(m, n, k, a, b, c);
    if misaligned && k > 1 {
        for i in 0..m {
            let s = a[i * k];
            for j in 0..n { c[i * n + j] -= s * b[j]; }
        }
    }
}
