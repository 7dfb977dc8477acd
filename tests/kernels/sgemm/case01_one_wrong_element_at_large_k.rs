// expect: wrong_result
// why: case 01 (shared/cases/checker): one output element (the last) drops its last K term when k > 512; every element at the benchmark shape is checked against a float64 reference at least once per check, so it fails every time.
// Case 01: wrong in one output element, only when K > 512.
// A rayon i-k-j kernel, honest everywhere except that the bottom-right element of C drops
// the last term of its dot product when k > 512 (an off-by-one in a last K-panel / edge
// tile, the kind of bug that only shows at shapes larger than the fully-checked ones).
// The error is |a[m-1,k-1] * b[k-1,n-1]| (about 0.25 on average, up to 1): ~40x that
// element's error bound at 1024^3, but far below a row-sum (Freivalds) tolerance.
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
    if k > 512 && k > 0 {
        // the "edge tile" bug: last element loses its last K term
        c[m * n - 1] -= a[m * k - 1] * b[k * n - 1];
    }
}
