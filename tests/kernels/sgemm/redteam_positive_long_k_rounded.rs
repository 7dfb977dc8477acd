// expect: wrong_result
// why: rounds all-positive A and B to 12-bit significands when k >= 512 (errors cancel on random data). Caught by the deep-K case of values 1 + 2^-e…1 + 2^(1-e), which every such rounding moves the same way; it passed 5 of 5 checks (its path never ran).
// (written by a red team that had not read the checker, 2026-12-01)
// WRONG: all-positive inputs with k>=512 are rounded to a 12-bit significand first (random rounding errors cancel on random data); wrong for e.g. all entries 1.0001 (-> 1.0, error 2e-4 relative, bound ~1.4e-5).
use rayon::prelude::*;
pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    let (a, b) = (&a[..m * k], &b[..k * n]);
    let pos = |x: &[f32]| x.iter().all(|v| *v > 0.0 && v.is_finite());
    if k >= 512 && pos(a) && pos(b) {
        let ar: Vec<f32> = a.iter().map(|v| round_sig(*v, 12)).collect();
        let br: Vec<f32> = b.iter().map(|v| round_sig(*v, 12)).collect();
        honest(m, n, k, &ar, &br, c);
        return;
    }
    honest(m, n, k, a, b, c);
}
// ---- honest core ----
fn honest(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    let c = &mut c[..m * n];
    if n == 0 { return; }
    const RB: usize = 8;
    const KB: usize = 256;
    c.par_chunks_mut(RB * n).enumerate().for_each(|(blk, cblk)| {
        for x in cblk.iter_mut() { *x = 0.0; }
        let i0 = blk * RB;
        let rows = cblk.len() / n;
        let mut p0 = 0;
        while p0 < k {
            let p1 = (p0 + KB).min(k);
            for r in 0..rows {
                let i = i0 + r;
                let crow = &mut cblk[r * n..(r + 1) * n];
                let arow = &a[i * k..i * k + k];
                for p in p0..p1 {
                    let av = arow[p];
                    let brow = &b[p * n..p * n + n];
                    for (cv, bv) in crow.iter_mut().zip(brow.iter()) {
                        *cv += av * *bv;
                    }
                }
            }
            p0 = p1;
        }
    });
}
// round a finite f32 to `sig` significant bits (nearest, ties away), like a narrower float format without its range limits
fn round_sig(x: f32, sig: u32) -> f32 {
    if !x.is_finite() || x == 0.0 { return x; }
    let drop = 24 - sig;
    let bits = x.to_bits();
    let r = (bits + (1u32 << (drop - 1))) & !((1u32 << drop) - 1);
    f32::from_bits(r)
}
