//! matmul_forward, BLIS-style (template `matmul_forward/blis`): out = inp · weightᵀ + bias as
//! a GEMM with M = B·T, K = C, N = OC. Rows of `weight` are output channels, so the B panels
//! are packed transposed (B[kk][j] = weight[j][kk]) into NR-wide micro-panels; inp is packed
//! into MR-tall micro-panels; an MR×NR tile of accumulators over fixed-size arrays
//! (f32::mul_add on [f32; NR] rows becomes packed FMA under target-cpu=native); edges are
//! zero-padded in the packs and clipped at the store; the bias is added when a tile is first
//! written, so `out` is overwritten and never read before that.
//! The `// @param` lines are filled in by roundtable from a validated parameter set.

use rayon::prelude::*;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Par {
    /// One thread.
    Serial,
    /// Rayon over MC-row blocks of `out` inside the depth loop; one packed B shared by all.
    Blocks,
    /// `out` cut into split_tasks row ranges up front; each task packs its own B panels.
    Split,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Order {
    /// for jr { for ir }: one B micro-panel is reused by every A micro-panel of the block.
    JrIr,
    /// for ir { for jr }: one A micro-panel is reused by every B micro-panel of the panel.
    IrJr,
}

const MR: usize = 6; // @param mr
const NR: usize = 64; // @param nr
const KC: usize = 768; // @param kc
const MC: usize = 96; // @param mc
const NC: usize = 768; // @param nc
const KU: usize = 1; // @param unroll_k
const PAR: Par = Par::Blocks; // @param parallel
const ORDER: Order = Order::JrIr; // @param loop_order
const SPLIT_TASKS: usize = 2; // @param split_tasks

#[allow(clippy::too_many_arguments)]
pub fn matmul_forward(
    out: &mut [f32],
    inp: &[f32],
    weight: &[f32],
    bias: Option<&[f32]>,
    b: usize,
    t: usize,
    c: usize,
    oc: usize,
) {
    let (m, k, n) = (b * t, c, oc);
    if m == 0 || n == 0 {
        return;
    }
    let out = &mut out[..m * n];
    let bias = bias.map(|v| &v[..n]);
    if k == 0 {
        for row in out.chunks_exact_mut(n) {
            match bias {
                Some(v) => row.copy_from_slice(v),
                None => row.fill(0.0),
            }
        }
        return;
    }
    let (inp, weight) = (&inp[..m * k], &weight[..n * k]);
    // @region threading
    match PAR {
        Par::Split => {
            let rows = m.div_ceil(SPLIT_TASKS.max(1)).div_ceil(MR) * MR;
            out.par_chunks_mut(rows * n)
                .enumerate()
                .for_each(|(task, part)| {
                    let a = &inp[task * rows * k..];
                    forward_rows(part.len() / n, n, k, a, weight, bias, part, false);
                });
        }
        Par::Blocks => forward_rows(m, n, k, inp, weight, bias, out, true),
        Par::Serial => forward_rows(m, n, k, inp, weight, bias, out, false),
    }
    // @endregion
}

// @region loop_nest
/// out[..m] = a[..m] · wᵀ (+ bias) for m rows; rayon over MC-row blocks when `parallel`.
#[allow(clippy::too_many_arguments)]
fn forward_rows(
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    w: &[f32],
    bias: Option<&[f32]>,
    out: &mut [f32],
    parallel: bool,
) {
    let mut bpack = vec![0.0f32; NC.min(n).div_ceil(NR) * NR * KC.min(k)];
    let a_block_len = MC.min(m).div_ceil(MR) * MR * KC.min(k);
    for jc in (0..n).step_by(NC) {
        let nc = NC.min(n - jc);
        for pc in (0..k).step_by(KC) {
            let kc = KC.min(k - pc);
            pack_b_transposed(w, k, jc, nc, pc, kc, &mut bpack, parallel);
            let bp = &bpack[..];
            // The first depth block writes its tile (plus bias); later ones add to it.
            let store = if pc == 0 {
                Store::Write(bias.map(|v| &v[jc..jc + nc]))
            } else {
                Store::Add
            };
            let block = |apack: &mut Vec<f32>, (blk, o_blk): (usize, &mut [f32])| {
                let ic = blk * MC;
                let mc = o_blk.len() / n;
                pack_a(&a[ic * k + pc..], k, mc, kc, apack);
                macro_block(apack, bp, o_blk, n, jc, mc, nc, kc, store);
            };
            if parallel {
                let blocks = out[..m * n].par_chunks_mut(MC * n).enumerate();
                blocks.for_each_init(|| vec![0.0f32; a_block_len], block);
            } else {
                let mut apack = vec![0.0f32; a_block_len];
                out[..m * n]
                    .chunks_mut(MC * n)
                    .enumerate()
                    .for_each(|x| block(&mut apack, x));
            }
        }
    }
}

/// How a finished tile meets `out`.
#[derive(Clone, Copy)]
enum Store<'a> {
    /// Overwrite, adding this slice of the bias (if any) to every row.
    Write(Option<&'a [f32]>),
    /// Add to what an earlier depth block wrote.
    Add,
}

/// The two loops over micro-tiles of one MC×NC block.
#[allow(clippy::too_many_arguments)]
fn macro_block(
    ap: &[f32],
    bp: &[f32],
    out: &mut [f32],
    ldo: usize,
    jc: usize,
    mc: usize,
    nc: usize,
    kc: usize,
    store: Store,
) {
    let tile = |out: &mut [f32], ir: usize, jr: usize| {
        let acc = micro_kernel(
            kc,
            &ap[ir * kc..(ir + MR) * kc],
            &bp[jr * kc..(jr + NR) * kc],
        );
        let (rows, cols) = (MR.min(mc - ir), NR.min(nc - jr));
        let tile_store = match store {
            Store::Write(Some(v)) => Store::Write(Some(&v[jr..jr + cols])),
            other => other,
        };
        write_tile(
            &acc,
            &mut out[ir * ldo + jc + jr..],
            ldo,
            rows,
            cols,
            tile_store,
        );
    };
    match ORDER {
        Order::JrIr => {
            for jr in (0..nc).step_by(NR) {
                for ir in (0..mc).step_by(MR) {
                    tile(out, ir, jr);
                }
            }
        }
        Order::IrJr => {
            for ir in (0..mc).step_by(MR) {
                for jr in (0..nc).step_by(NR) {
                    tile(out, ir, jr);
                }
            }
        }
    }
}
// @endregion

// @region micro_kernel
/// The MR×NR register tile over kc depth steps of packed micro-panels. Kept out of line so
/// its accumulators live in vector registers whatever calls it.
#[inline(never)]
fn micro_kernel(kc: usize, ap: &[f32], bp: &[f32]) -> [[f32; NR]; MR] {
    let mut acc = [[0.0f32; NR]; MR];
    let (a_cols, _) = ap[..kc * MR].as_chunks::<MR>();
    let (b_rows, _) = bp[..kc * NR].as_chunks::<NR>();
    let a_groups = a_cols.chunks_exact(KU);
    let b_groups = b_rows.chunks_exact(KU);
    let (a_tail, b_tail) = (a_groups.remainder(), b_groups.remainder());
    for (ag, bg) in a_groups.zip(b_groups) {
        for u in 0..KU {
            rank1_update(&mut acc, &ag[u], &bg[u]);
        }
    }
    for (av, bv) in a_tail.iter().zip(b_tail) {
        rank1_update(&mut acc, av, bv);
    }
    acc
}

/// acc += a ⊗ b: one broadcast per row, NR/16 vector FMAs per row.
#[inline(always)]
fn rank1_update(acc: &mut [[f32; NR]; MR], a: &[f32; MR], b: &[f32; NR]) {
    for (row, &ai) in acc.iter_mut().zip(a) {
        for (x, &bj) in row.iter_mut().zip(b) {
            *x = ai.mul_add(bj, *x);
        }
    }
}
// @endregion

/// Moves the valid rows×cols corner of a tile into `out`.
fn write_tile(
    acc: &[[f32; NR]; MR],
    out: &mut [f32],
    ldo: usize,
    rows: usize,
    cols: usize,
    store: Store,
) {
    for (i, src) in acc.iter().enumerate().take(rows) {
        let dst = &mut out[i * ldo..i * ldo + cols];
        match store {
            Store::Write(None) => dst.copy_from_slice(&src[..cols]),
            Store::Write(Some(v)) => {
                for ((d, &s), &bv) in dst.iter_mut().zip(&src[..cols]).zip(v) {
                    *d = s + bv;
                }
            }
            Store::Add => {
                for (d, &s) in dst.iter_mut().zip(&src[..cols]) {
                    *d += s;
                }
            }
        }
    }
}

// @region packing
/// Packs B[kk][j] = w[j][pc + kk] for j in jc..jc+nc, kk < kc into NR-wide micro-panels
/// (row kk of a micro-panel is NR consecutive floats), zero-padding the last one.
#[allow(clippy::too_many_arguments)]
fn pack_b_transposed(
    w: &[f32],
    ldw: usize,
    jc: usize,
    nc: usize,
    pc: usize,
    kc: usize,
    out: &mut [f32],
    parallel: bool,
) {
    let fill = |(p, panel): (usize, &mut [f32])| {
        let j0 = jc + p * NR;
        let width = NR.min(jc + nc - j0);
        for jj in 0..width {
            let src = &w[(j0 + jj) * ldw + pc..(j0 + jj) * ldw + pc + kc];
            for (dst, &v) in panel.chunks_exact_mut(NR).zip(src) {
                dst[jj] = v;
            }
        }
        if width < NR {
            for dst in panel.chunks_exact_mut(NR) {
                dst[width..].fill(0.0);
            }
        }
    };
    let out = &mut out[..nc.div_ceil(NR) * NR * kc];
    if parallel {
        out.par_chunks_mut(NR * kc).enumerate().for_each(fill);
    } else {
        out.chunks_mut(NR * kc).enumerate().for_each(fill);
    }
}

/// Packs an mc×kc block of A (row stride lda) into MR-tall micro-panels, column by column,
/// zero-padding the rows past mc.
fn pack_a(a: &[f32], lda: usize, mc: usize, kc: usize, out: &mut [f32]) {
    let len = mc.div_ceil(MR) * MR * kc;
    for (q, panel) in out[..len].chunks_exact_mut(MR * kc).enumerate() {
        let i0 = q * MR;
        let height = MR.min(mc - i0);
        for i in 0..height {
            let src = &a[(i0 + i) * lda..(i0 + i) * lda + kc];
            for (col, &v) in panel.chunks_exact_mut(MR).zip(src) {
                col[i] = v;
            }
        }
        if height < MR {
            for col in panel.chunks_exact_mut(MR) {
                col[height..].fill(0.0);
            }
        }
    }
}
// @endregion
