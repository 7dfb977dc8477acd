// expect: passed
// why: packed-panel GEMM with a 6x16 register block ([[f32; 16]; 6] accumulators, f32::mul_add), zero-padded edge panels, rayon over 48-row blocks; correct on all shapes.
use rayon::prelude::*;

const MR: usize = 6;
const NR: usize = 16;
const MC: usize = 48;
const KC: usize = 256;

/// B packed into NR-wide column strips covering all of k: strip s holds rows p of
/// B[p][s*NR .. s*NR+NR] contiguously, zero-padded past n.
fn pack_b(n: usize, k: usize, b: &[f32]) -> Vec<f32> {
    let strips = n.div_ceil(NR);
    let mut out = vec![0.0f32; strips * k * NR];
    for s in 0..strips {
        let j0 = s * NR;
        let w = NR.min(n - j0);
        let dst = &mut out[s * k * NR..(s + 1) * k * NR];
        for p in 0..k {
            dst[p * NR..p * NR + w].copy_from_slice(&b[p * n + j0..p * n + j0 + w]);
        }
    }
    out
}

/// Rows i0..i0+rows of A packed into MR-tall strips (column p of the strip contiguous).
fn pack_a(i0: usize, rows: usize, k: usize, a: &[f32], out: &mut Vec<f32>) {
    let strips = rows.div_ceil(MR);
    out.clear();
    out.resize(strips * k * MR, 0.0);
    for r in 0..strips {
        let h = MR.min(rows - r * MR);
        let dst = &mut out[r * k * MR..(r + 1) * k * MR];
        for ii in 0..h {
            let src = &a[(i0 + r * MR + ii) * k..(i0 + r * MR + ii + 1) * k];
            for (p, v) in src.iter().enumerate() {
                dst[p * MR + ii] = *v;
            }
        }
    }
}

#[inline(always)]
fn micro(ap: &[f32], bp: &[f32]) -> [[f32; NR]; MR] {
    let mut acc = [[0.0f32; NR]; MR];
    for (ac, bc) in ap.chunks_exact(MR).zip(bp.chunks_exact(NR)) {
        let av: &[f32; MR] = ac.try_into().unwrap();
        let bv: &[f32; NR] = bc.try_into().unwrap();
        for i in 0..MR {
            for j in 0..NR {
                acc[i][j] = av[i].mul_add(bv[j], acc[i][j]);
            }
        }
    }
    acc
}

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    if m == 0 || n == 0 {
        return;
    }
    let c = &mut c[..m * n];
    c.fill(0.0);
    if k == 0 {
        return;
    }
    let bp = pack_b(n, k, b);
    let strips_n = n.div_ceil(NR);
    c.par_chunks_mut(MC * n).enumerate().for_each(|(blk, cblk)| {
        let i0 = blk * MC;
        let rows = cblk.len() / n;
        let mut ap = Vec::new();
        pack_a(i0, rows, k, a, &mut ap);
        let strips_m = rows.div_ceil(MR);
        let mut p0 = 0;
        while p0 < k {
            let p1 = (p0 + KC).min(k);
            for s in 0..strips_n {
                let bs = &bp[s * k * NR + p0 * NR..s * k * NR + p1 * NR];
                let j0 = s * NR;
                let w = NR.min(n - j0);
                for r in 0..strips_m {
                    let as_ = &ap[r * k * MR + p0 * MR..r * k * MR + p1 * MR];
                    let acc = micro(as_, bs);
                    let h = MR.min(rows - r * MR);
                    for ii in 0..h {
                        let row = r * MR + ii;
                        let dst = &mut cblk[row * n + j0..row * n + j0 + w];
                        for (d, v) in dst.iter_mut().zip(&acc[ii][..w]) {
                            *d += *v;
                        }
                    }
                }
            }
            p0 = p1;
        }
    });
}
