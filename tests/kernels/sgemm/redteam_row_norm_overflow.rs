// expect: wrong_result
// why: scales each row of A by a power of two from an f32 sum of squares; when that sum overflows (|a| > ~1.8e19) the scale is 0 and the row comes out NaN, though the true product is finite. Caught by the case of huge values (2^60-2^64) against tiny ones.
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

// "Range-safe" accumulation: each row of A is scaled by a power of two near 1/||a_row|| (exact)
// and C's row scaled back. ||a_row||^2 is summed in f32, so a row whose squared norm overflows
// (any |a| > ~1.8e19, or |a| ~ 1e18 with a long K) gets scale 0 and C's row becomes 0·Inf = NaN
// although the classical product is finite.
pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    if m == 0 || n == 0 { return; }
    let a = &a[..m * k];
    if a.iter().any(|v| v.is_nan()) { return honest(m, n, k, a, b, c); }
    c[..m * n].par_chunks_mut(n).enumerate().for_each(|(i, crow)| {
        let ar = &a[i * k..(i + 1) * k];
        let ss: f32 = ar.iter().map(|v| v * v).sum();
        let anyinf = ar.iter().any(|v| v.is_infinite());
        let sc = if ss == 0.0 || anyinf { 1.0f32 } else { f32::from_bits((1.0 / ss.sqrt()).to_bits() & 0xFF80_0000) };
        let back = if sc == 1.0 { 1.0 } else { 1.0 / sc };
        crow.fill(0.0);
        for p in 0..k {
            let s = ar[p] * sc;
            for (cv, bv) in crow.iter_mut().zip(&b[p * n..(p + 1) * n]) { *cv += s * *bv; }
        }
        if back != 1.0 { for cv in crow.iter_mut() { *cv *= back; } }
    });
}
