//! sgemm, BLIS-style (template `sgemm/blis`): B packed into KC×NC panels of NR-wide
//! micro-panels, A packed into MC×KC blocks of MR-tall micro-panels, an MR×NR register tile
//! over fixed-size arrays (f32::mul_add on [f32; NR] rows compiles to packed FMA under
//! target-cpu=native), zero-padded edges, rayon over blocks of rows of C.
//! The `// @param` lines are filled in by roundtable from a validated parameter set.

use rayon::prelude::*;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Par {
    /// One thread.
    Serial,
    /// Rayon over MC-row blocks inside the pc loop; B is packed once and shared.
    Blocks,
    /// C split into one row range per task at the top; each task packs its own B.
    Split,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Order {
    /// for jr { for ir }: one B micro-panel stays in L1 while A's block streams from L2.
    JrIr,
    /// for ir { for jr }: one A micro-panel stays in L1 while B's panel streams from L2.
    IrJr,
}

const MR: usize = 12; // @param mr
const NR: usize = 32; // @param nr
const KC: usize = 256; // @param kc
const MC: usize = 96; // @param mc
const NC: usize = 1024; // @param nc
const KU: usize = 1; // @param unroll_k
const PAR: Par = Par::Blocks; // @param parallel
const ORDER: Order = Order::JrIr; // @param loop_order
const SPLIT_TASKS: usize = 2; // @param split_tasks

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    let (a, b, c) = (&a[..m * k], &b[..k * n], &mut c[..m * n]);
    if m == 0 || n == 0 {
        return;
    }
    if k == 0 {
        c.fill(0.0);
        return;
    }
    // @region threading
    match PAR {
        Par::Split => {
            let tasks = SPLIT_TASKS.max(1);
            let rows = m.div_ceil(tasks).div_ceil(MR) * MR;
            c.par_chunks_mut(rows * n).enumerate().for_each(|(t, c_part)| {
                let m_part = c_part.len() / n;
                gemm_rows(m_part, n, k, &a[t * rows * k..], b, c_part, false);
            });
        }
        Par::Blocks => gemm_rows(m, n, k, a, b, c, true),
        Par::Serial => gemm_rows(m, n, k, a, b, c, false),
    }
    // @endregion
}

// @region loop_nest
/// C[..m] = A[..m] · B for m rows, with rayon over MC blocks when `parallel`.
fn gemm_rows(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32], parallel: bool) {
    let panels = NC.min(n).div_ceil(NR);
    let b_len = panels * NR * KC.min(k);
    let (mut b_store, b_at) = line_aligned(b_len);
    let bpack = &mut b_store[b_at..b_at + b_len];
    for jc in (0..n).step_by(NC) {
        let nc = NC.min(n - jc);
        for pc in (0..k).step_by(KC) {
            let kc = KC.min(k - pc);
            pack_b(&b[pc * n..], n, jc, nc, kc, bpack, parallel);
            let bp = &bpack[..];
            let first = pc == 0;
            // One packed A block per rayon task (for_each_init), reused across its blocks.
            let a_len = MC.min(m).div_ceil(MR) * MR * kc;
            let block = |a_store: &mut (Vec<f32>, usize), (blk, c_blk): (usize, &mut [f32])| {
                let ic = blk * MC;
                let mc = c_blk.len() / n;
                let at = a_store.1;
                let apack = &mut a_store.0[at..at + mc.div_ceil(MR) * MR * kc];
                pack_a(&a[ic * k + pc..], k, mc, kc, apack);
                macro_block(apack, bp, c_blk, n, jc, mc, nc, kc, first);
            };
            if parallel {
                let blocks = c[..m * n].par_chunks_mut(MC * n).enumerate();
                blocks.for_each_init(|| line_aligned(a_len), block);
            } else {
                let mut a_store = line_aligned(a_len);
                c[..m * n].chunks_mut(MC * n).enumerate().for_each(|x| block(&mut a_store, x));
            }
        }
    }
}

/// A zeroed buffer for `len` packed floats and the index at which they start on a 64-byte
/// cache line: a 16-float packed row then loads one line, not two (a large `Vec` from the
/// allocator starts 16 bytes past a page).
fn line_aligned(len: usize) -> (Vec<f32>, usize) {
    let store = vec![0.0f32; len + 15];
    let at = (64 - store.as_ptr() as usize % 64) % 64 / 4;
    (store, at)
}

/// The two inner loops over micro-tiles of one MC×NC block of C.
#[allow(clippy::too_many_arguments)]
fn macro_block(
    ap: &[f32],
    bp: &[f32],
    c: &mut [f32],
    ldc: usize,
    jc: usize,
    mc: usize,
    nc: usize,
    kc: usize,
    first: bool,
) {
    let tile = |c: &mut [f32], ir: usize, jr: usize| {
        let amp = &ap[ir * kc..(ir + MR) * kc];
        let bmp = &bp[jr * kc..(jr + NR) * kc];
        let acc = micro_kernel(kc, amp, bmp);
        store(&acc, &mut c[ir * ldc + jc + jr..], ldc, MR.min(mc - ir), NR.min(nc - jr), first);
    };
    match ORDER {
        Order::JrIr => {
            for jr in (0..nc).step_by(NR) {
                for ir in (0..mc).step_by(MR) {
                    tile(c, ir, jr);
                }
            }
        }
        Order::IrJr => {
            for ir in (0..mc).step_by(MR) {
                for jr in (0..nc).step_by(NR) {
                    tile(c, ir, jr);
                }
            }
        }
    }
}
// @endregion

// @region micro_kernel
/// The MR×NR register tile: kc rank-1 updates from packed micro-panels. Not inlined, so the
/// accumulators stay in vector registers even when called from a rayon closure.
#[inline(never)]
fn micro_kernel(kc: usize, ap: &[f32], bp: &[f32]) -> [[f32; NR]; MR] {
    let mut acc = [[0.0f32; NR]; MR];
    let (a_cols, _) = ap[..kc * MR].as_chunks::<MR>();
    let (b_rows, _) = bp[..kc * NR].as_chunks::<NR>();
    if KU == 1 {
        for (av, bv) in a_cols.iter().zip(b_rows) {
            rank1(&mut acc, av, bv);
        }
        return acc;
    }
    let mut a_steps = a_cols.chunks_exact(KU);
    let mut b_steps = b_rows.chunks_exact(KU);
    for (a_u, b_u) in (&mut a_steps).zip(&mut b_steps) {
        for u in 0..KU {
            rank1(&mut acc, &a_u[u], &b_u[u]);
        }
    }
    for (av, bv) in a_steps.remainder().iter().zip(b_steps.remainder()) {
        rank1(&mut acc, av, bv);
    }
    acc
}

/// acc += a ⊗ b: MR broadcasts, MR×NR/16 vector FMAs.
#[inline(always)]
fn rank1(acc: &mut [[f32; NR]; MR], a: &[f32; MR], b: &[f32; NR]) {
    for i in 0..MR {
        for j in 0..NR {
            acc[i][j] = a[i].mul_add(b[j], acc[i][j]);
        }
    }
}
// @endregion

/// Writes (first pc block) or adds the valid mr×nr corner of a tile into C. A full-width row
/// is moved as one fixed-length array (vector moves, not a call per row).
fn store(acc: &[[f32; NR]; MR], c: &mut [f32], ldc: usize, mr: usize, nr: usize, first: bool) {
    for (i, row) in acc.iter().enumerate().take(mr) {
        let dst = &mut c[i * ldc..i * ldc + nr];
        match (first, <&mut [f32; NR]>::try_from(&mut *dst).ok()) {
            (true, Some(full)) => *full = *row,
            (false, Some(full)) => {
                for (x, y) in full.iter_mut().zip(row) {
                    *x += *y;
                }
            }
            (true, None) => dst.copy_from_slice(&row[..nr]),
            (false, None) => {
                for (x, y) in dst.iter_mut().zip(&row[..nr]) {
                    *x += *y;
                }
            }
        }
    }
}

// @region packing
/// Packs rows pc..pc+kc, columns jc..jc+nc of B into NR-wide micro-panels, zero-padded.
fn pack_b(b: &[f32], ldb: usize, jc: usize, nc: usize, kc: usize, out: &mut [f32], par: bool) {
    let fill = |(p, panel): (usize, &mut [f32])| {
        let j0 = jc + p * NR;
        let w = NR.min(jc + nc - j0);
        let (rows, _) = panel.as_chunks_mut::<NR>();
        for (kk, dst) in rows.iter_mut().enumerate() {
            let src = &b[kk * ldb + j0..];
            if w == NR {
                // A fixed-length copy: a few vector moves, not a call per row.
                *dst = *src.first_chunk::<NR>().unwrap();
            } else {
                dst[..w].copy_from_slice(&src[..w]);
                dst[w..].fill(0.0);
            }
        }
    };
    let out = &mut out[..nc.div_ceil(NR) * NR * kc];
    if par {
        out.par_chunks_mut(kc * NR).enumerate().for_each(fill);
    } else {
        out.chunks_mut(kc * NR).enumerate().for_each(fill);
    }
}

/// Packs an mc×kc block of A into MR-tall micro-panels (column by column), zero-padded.
fn pack_a(a: &[f32], lda: usize, mc: usize, kc: usize, out: &mut [f32]) {
    for (q, panel) in out.chunks_exact_mut(kc * MR).enumerate() {
        let i0 = q * MR;
        let h = MR.min(mc - i0);
        let (cols, _) = panel.as_chunks_mut::<MR>();
        if h == MR {
            // MR row slices of length kc, read in step: one column of the micro-panel per kk.
            let rows: [&[f32]; MR] = std::array::from_fn(|i| &a[(i0 + i) * lda..(i0 + i) * lda + kc]);
            for (kk, col) in cols.iter_mut().enumerate() {
                for i in 0..MR {
                    col[i] = rows[i][kk];
                }
            }
        } else {
            for (kk, col) in cols.iter_mut().enumerate() {
                for i in 0..MR {
                    col[i] = if i < h { a[(i0 + i) * lda + kk] } else { 0.0 };
                }
            }
        }
    }
}
// @endregion
