//! matmul_backward, BLIS-style (template `matmul_backward/blis`): two accumulating GEMMs
//! through one packed machinery, plus the bias gradient.
//! - dinp (B·T × C) += dout (B·T × OC) · weight (OC × C): A = dout, B = weight, both packed
//!   from their row-major layout.
//! - dweight (OC × C) += doutᵀ · inp (B·T × C): A = doutᵀ, packed straight from dout (an MR
//!   slice of a dout row is one column of an A micro-panel), B = inp.
//! - dbias (OC) += column sums of dout.
//!
//! A is packed into MR-tall micro-panels, B into NR-wide ones, an MR×NR tile of accumulators
//! over fixed-size arrays (f32::mul_add becomes packed FMA under target-cpu=native), edges
//! zero-padded in the packs and clipped when a tile is added into its gradient.
//! The `// @param` lines are filled in by roundtable from a validated parameter set.

use rayon::prelude::*;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Par {
    /// One thread.
    Serial,
    /// Rayon over MC-row blocks of the gradient inside the depth loop; one packed B shared.
    Blocks,
    /// The gradient cut into split_tasks row ranges up front; each task packs its own B.
    Split,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Order {
    /// for jr { for ir }: one B micro-panel is reused by every A micro-panel of the block.
    JrIr,
    /// for ir { for jr }: one A micro-panel is reused by every B micro-panel of the panel.
    IrJr,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Gemms {
    /// dinp's GEMM, then dweight's (then dbias), each parallel as `PAR` says.
    InTurn,
    /// dinp's and dweight's GEMMs (equal FLOPs) started together with rayon::join.
    Joined,
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
const GEMMS: Gemms = Gemms::Joined; // @param gemms

/// Where A's elements are: A[i][kk] = a[i * ld + kk] (rows) or a[kk * ld + i] (columns).
#[derive(Clone, Copy, PartialEq, Eq)]
enum Layout {
    Rows,
    Columns,
}

/// One accumulating product C (m×n, row stride n) += A (m×k) · B (k×n, row stride n).
#[derive(Clone, Copy)]
struct Operands<'a> {
    m: usize,
    n: usize,
    k: usize,
    a: &'a [f32],
    a_layout: Layout,
    lda: usize,
    b: &'a [f32],
}

#[allow(clippy::too_many_arguments)]
pub fn matmul_backward(
    dinp: &mut [f32],
    dweight: &mut [f32],
    dbias: Option<&mut [f32]>,
    dout: &[f32],
    inp: &[f32],
    weight: &[f32],
    b: usize,
    t: usize,
    c: usize,
    oc: usize,
) {
    let bt = b * t;
    let dout = &dout[..bt * oc];
    let dinp_gemm = Operands {
        m: bt,
        n: c,
        k: oc,
        a: dout,
        a_layout: Layout::Rows,
        lda: oc,
        b: &weight[..oc * c],
    };
    let dweight_gemm = Operands {
        m: oc,
        n: c,
        k: bt,
        a: dout,
        a_layout: Layout::Columns,
        lda: oc,
        b: &inp[..bt * c],
    };
    let (dinp, dweight) = (&mut dinp[..bt * c], &mut dweight[..oc * c]);
    match GEMMS {
        Gemms::InTurn => {
            gemm_accumulate(dinp_gemm, dinp);
            gemm_accumulate(dweight_gemm, dweight);
        }
        Gemms::Joined => {
            rayon::join(
                || gemm_accumulate(dinp_gemm, dinp),
                || gemm_accumulate(dweight_gemm, dweight),
            );
        }
    }
    if let Some(dbias) = dbias {
        let dbias = &mut dbias[..oc];
        for row in dout.chunks_exact(oc.max(1)) {
            for (d, &x) in dbias.iter_mut().zip(row) {
                *d += x;
            }
        }
    }
}

// @region threading
/// c += A · B for one product, parallel as `PAR` says.
fn gemm_accumulate(g: Operands, c: &mut [f32]) {
    if g.m == 0 || g.n == 0 || g.k == 0 {
        return; // nothing to add
    }
    match PAR {
        Par::Split => {
            let rows = g.m.div_ceil(SPLIT_TASKS.max(1)).div_ceil(MR) * MR;
            c.par_chunks_mut(rows * g.n)
                .enumerate()
                .for_each(|(task, part)| {
                    gemm_rows(g, task * rows, part, false);
                });
        }
        Par::Blocks => gemm_rows(g, 0, c, true),
        Par::Serial => gemm_rows(g, 0, c, false),
    }
}
// @endregion

// @region loop_nest
/// Rows i0..i0 + c.len()/n of the product, added into `c`; rayon over MC-row blocks when
/// `parallel`.
fn gemm_rows(g: Operands, i0: usize, c: &mut [f32], parallel: bool) {
    let (n, k) = (g.n, g.k);
    let m = c.len() / n;
    let mut bpack = vec![0.0f32; NC.min(n).div_ceil(NR) * NR * KC.min(k)];
    let a_block_len = MC.min(m).div_ceil(MR) * MR * KC.min(k);
    for jc in (0..n).step_by(NC) {
        let nc = NC.min(n - jc);
        for pc in (0..k).step_by(KC) {
            let kc = KC.min(k - pc);
            pack_b(&g.b[pc * n..], n, jc, nc, kc, &mut bpack, parallel);
            let bp = &bpack[..];
            let block = |apack: &mut Vec<f32>, (blk, c_blk): (usize, &mut [f32])| {
                let ic = i0 + blk * MC;
                let mc = c_blk.len() / n;
                match g.a_layout {
                    Layout::Rows => pack_a_rows(&g.a[ic * g.lda + pc..], g.lda, mc, kc, apack),
                    Layout::Columns => {
                        pack_a_columns(&g.a[pc * g.lda + ic..], g.lda, mc, kc, apack)
                    }
                }
                macro_block(apack, bp, c_blk, n, jc, mc, nc, kc);
            };
            if parallel {
                let blocks = c.par_chunks_mut(MC * n).enumerate();
                blocks.for_each_init(|| vec![0.0f32; a_block_len], block);
            } else {
                let mut apack = vec![0.0f32; a_block_len];
                c.chunks_mut(MC * n)
                    .enumerate()
                    .for_each(|x| block(&mut apack, x));
            }
        }
    }
}

/// The two loops over micro-tiles of one MC×NC block, each tile added into `c`.
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
) {
    let tile = |c: &mut [f32], ir: usize, jr: usize| {
        let acc = micro_kernel(
            kc,
            &ap[ir * kc..(ir + MR) * kc],
            &bp[jr * kc..(jr + NR) * kc],
        );
        add_tile(
            &acc,
            &mut c[ir * ldc + jc + jr..],
            ldc,
            MR.min(mc - ir),
            NR.min(nc - jr),
        );
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

/// Adds the valid rows×cols corner of a tile into `c` (gradients accumulate); a full-width
/// row as one fixed-length array.
fn add_tile(acc: &[[f32; NR]; MR], c: &mut [f32], ldc: usize, rows: usize, cols: usize) {
    for (i, src) in acc.iter().enumerate().take(rows) {
        let dst = &mut c[i * ldc..i * ldc + cols];
        if let Ok(full) = <&mut [f32; NR]>::try_from(&mut *dst) {
            for (d, &s) in full.iter_mut().zip(src) {
                *d += s;
            }
        } else {
            for (d, &s) in dst.iter_mut().zip(&src[..cols]) {
                *d += s;
            }
        }
    }
}

// @region packing
/// Packs rows 0..kc, columns jc..jc+nc of a row-major B (row stride ldb) into NR-wide
/// micro-panels, zero-padding the last one. A full-width row is one fixed-length copy (vector
/// moves, not a call per row).
fn pack_b(b: &[f32], ldb: usize, jc: usize, nc: usize, kc: usize, out: &mut [f32], par: bool) {
    let fill = |(p, panel): (usize, &mut [f32])| {
        let j0 = jc + p * NR;
        let width = NR.min(jc + nc - j0);
        let (rows, _) = panel.as_chunks_mut::<NR>();
        for (kk, dst) in rows.iter_mut().enumerate() {
            let src = &b[kk * ldb + j0..];
            if width == NR {
                *dst = *src.first_chunk::<NR>().unwrap();
            } else {
                dst[..width].copy_from_slice(&src[..width]);
                dst[width..].fill(0.0);
            }
        }
    };
    let out = &mut out[..nc.div_ceil(NR) * NR * kc];
    if par {
        out.par_chunks_mut(NR * kc).enumerate().for_each(fill);
    } else {
        out.chunks_mut(NR * kc).enumerate().for_each(fill);
    }
}

/// Packs an mc×kc block of a row-major A (row stride lda) into MR-tall micro-panels, column
/// by column, zero-padding the rows past mc. A full micro-panel reads its MR rows in step.
fn pack_a_rows(a: &[f32], lda: usize, mc: usize, kc: usize, out: &mut [f32]) {
    let len = mc.div_ceil(MR) * MR * kc;
    for (q, panel) in out[..len].chunks_exact_mut(MR * kc).enumerate() {
        let i0 = q * MR;
        let height = MR.min(mc - i0);
        let (cols, _) = panel.as_chunks_mut::<MR>();
        if height == MR {
            let rows: [&[f32]; MR] = std::array::from_fn(|i| &a[(i0 + i) * lda..(i0 + i) * lda + kc]);
            for (kk, col) in cols.iter_mut().enumerate() {
                for i in 0..MR {
                    col[i] = rows[i][kk];
                }
            }
        } else {
            for (kk, col) in cols.iter_mut().enumerate() {
                for (i, x) in col.iter_mut().enumerate() {
                    *x = if i < height { a[(i0 + i) * lda + kk] } else { 0.0 };
                }
            }
        }
    }
}

/// Packs an mc×kc block of A stored by columns (A[i][kk] = a[kk * lda + i], as doutᵀ is in
/// dout) into MR-tall micro-panels: each column of a micro-panel is one contiguous copy.
fn pack_a_columns(a: &[f32], lda: usize, mc: usize, kc: usize, out: &mut [f32]) {
    let len = mc.div_ceil(MR) * MR * kc;
    for (q, panel) in out[..len].chunks_exact_mut(MR * kc).enumerate() {
        let i0 = q * MR;
        let height = MR.min(mc - i0);
        let (cols, _) = panel.as_chunks_mut::<MR>();
        for (kk, col) in cols.iter_mut().enumerate() {
            let src = &a[kk * lda + i0..];
            if height == MR {
                *col = *src.first_chunk::<MR>().unwrap();
            } else {
                col[..height].copy_from_slice(&src[..height]);
                col[height..].fill(0.0);
            }
        }
    }
}
// @endregion
