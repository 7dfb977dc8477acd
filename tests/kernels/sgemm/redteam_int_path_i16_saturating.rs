// expect: wrong_result
// why: accumulates integer inputs of at most 100 in saturating i16: sums past 32767 stick. Caught by the deep-K case of small positive integers (2^(j-1)…2^j, j 3…6); it passed 5 of 5 checks.
// (written by a red team that had not read the checker, 2026-12-01)
// WRONG: integer-valued inputs with |x|<=100 are accumulated in i16 with saturating adds; saturates at 32767 e.g. k=4, all entries 100 (true 40000).
use rayon::prelude::*;
fn small_ints(x: &[f32]) -> bool { x.iter().all(|v| v.fract() == 0.0 && v.abs() <= 100.0) }
pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    let (a, b) = (&a[..m * k], &b[..k * n]);
    if n > 0 && small_ints(a) && small_ints(b) {
        let ai: Vec<i16> = a.iter().map(|v| *v as i16).collect();
        let bi: Vec<i16> = b.iter().map(|v| *v as i16).collect();
        c[..m * n].par_chunks_mut(n).enumerate().for_each(|(i, crow)| {
            let mut acc = vec![0i16; n];
            for p in 0..k {
                let av = ai[i * k + p];
                let brow = &bi[p * n..p * n + n];
                for (cv, bv) in acc.iter_mut().zip(brow) { *cv = cv.saturating_add(av * *bv); }
            }
            for (o, v) in crow.iter_mut().zip(acc) { *o = v as f32; }
        });
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
