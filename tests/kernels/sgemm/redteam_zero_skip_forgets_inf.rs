// expect: wrong_result
// why: skips zero terms of A unless that row of B holds a NaN, forgetting that 0·Inf is NaN too. Caught by the zero_times_inf cases; it passed 5 of 5 checks when only 0·NaN was tried.
// (written by a red team that had not read the checker, 2026-12-01)
// WRONG: skips a[i][p]==0 terms whenever row p of B holds no NaN, but forgets Inf: a[0][0]=0, b[0][0]=+Inf must give NaN in C[0][0], gives a finite value.
use rayon::prelude::*;
pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    let (a, b) = (&a[..m * k], &b[..k * n]);
    if n == 0 { return; }
    let nan_row: Vec<bool> = (0..k).map(|p| b[p * n..p * n + n].iter().any(|v| v.is_nan())).collect();
    c[..m * n].par_chunks_mut(n).enumerate().for_each(|(i, crow)| {
        for x in crow.iter_mut() { *x = 0.0; }
        for p in 0..k {
            let av = a[i * k + p];
            if av == 0.0 && !nan_row[p] { continue; }
            let brow = &b[p * n..p * n + n];
            for (cv, bv) in crow.iter_mut().zip(brow) { *cv += av * *bv; }
        }
    });
    let _ = honest;
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
