//! binary_gemm, packed (template `binary_gemm/packed`): C = A · B with B's ±1 entries stored
//! as bits. A is packed once into MR-tall micro-panels over the whole depth; B's bits are
//! unpacked a KC×NC block at a time into NR-wide micro-panels of ±1.0 floats (the bits are 32
//! times smaller than the floats, so B costs almost no memory traffic, and the unpacked
//! block is reused by every row panel of A while it sits in cache); an MR×NR tile of
//! accumulators over fixed-size arrays takes f32::mul_add with the ±1.0 values (packed FMA
//! under target-cpu=native). Edges are zero-padded in the packs and clipped at the store.
//! m is small at the default shape (32 rows), so the work is split over columns: each task
//! computes whole NC-column strips of C into a private buffer that is copied into C at the
//! end (C's rows are contiguous, so column strips cannot be handed out as slices). A call
//! takes a few milliseconds, so in `shared` mode the calling thread starts at once and rayon
//! helpers join as they wake, instead of the caller sleeping until a worker wakes.
//! The `// @param` lines are filled in by roundtable from a validated parameter set.

use rayon::prelude::*;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Par {
    /// One thread.
    Serial,
    /// Rayon over NC-column strips of C, each computed in a private buffer, then copied.
    Columns,
    /// As Columns, but the calling thread starts on the strips at once and rayon helpers join
    /// in as they wake, each taking the next strip from a shared counter.
    Shared,
    /// C cut into split_tasks row ranges; each task unpacks all of B for itself.
    Rows,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Order {
    /// for jr { for ir }: one unpacked B micro-panel is reused by every A micro-panel.
    JrIr,
    /// for ir { for jr }: one A micro-panel is reused by every B micro-panel of the block.
    IrJr,
}

const MR: usize = 4; // @param mr
const NR: usize = 64; // @param nr
const KC: usize = 256; // @param kc
const NC: usize = 128; // @param nc
const KU: usize = 1; // @param unroll_k
const PAR: Par = Par::Shared; // @param parallel
const ORDER: Order = Order::JrIr; // @param loop_order
const SPLIT_TASKS: usize = 2; // @param split_tasks

/// The bit pattern of +1.0; with the sign bit set it is -1.0.
const ONE: u32 = 0x3F80_0000;

pub fn binary_gemm(m: usize, n: usize, k: usize, a: &[f32], b: &[u64], c: &mut [f32]) {
    if m == 0 || n == 0 {
        return;
    }
    let c = &mut c[..m * n];
    if k == 0 {
        c.fill(0.0);
        return;
    }
    let words = n.div_ceil(64);
    let bits = Bits {
        words,
        n,
        b: &b[..k * words],
    };
    let a = &a[..m * k];
    let bpack_len = KC.min(k) * NC.min(n).div_ceil(NR) * NR;
    // @region threading
    match PAR {
        Par::Columns => {
            let apack = pack_a(a, m, k);
            let strips: Vec<Vec<f32>> = (0..n.div_ceil(NC))
                .into_par_iter()
                .map_init(
                    || vec![0.0f32; bpack_len],
                    |bpack, blk| column_strip(&apack, m, k, bits, blk, bpack),
                )
                .collect();
            for (blk, strip) in strips.iter().enumerate() {
                copy_strip(strip, blk, c, n);
            }
        }
        Par::Shared => {
            let apack = pack_a(a, m, k);
            let strips = n.div_ceil(NC);
            let next = AtomicUsize::new(0);
            let done = Mutex::new(Vec::with_capacity(strips));
            // Each participant takes the next strip until none is left, so a helper that
            // wakes late simply takes fewer strips.
            let work = || {
                let mut bpack = vec![0.0f32; bpack_len];
                let mut mine = Vec::new();
                loop {
                    let blk = next.fetch_add(1, Ordering::Relaxed);
                    if blk >= strips {
                        break;
                    }
                    mine.push((blk, column_strip(&apack, m, k, bits, blk, &mut bpack)));
                }
                done.lock().unwrap_or_else(|e| e.into_inner()).extend(mine);
            };
            let helpers = rayon::current_num_threads()
                .saturating_sub(1)
                .min(strips - 1);
            rayon::in_place_scope(|s| {
                for _ in 0..helpers {
                    s.spawn(|_| work());
                }
                work();
            });
            for (blk, strip) in done.into_inner().unwrap_or_else(|e| e.into_inner()) {
                copy_strip(&strip, blk, c, n);
            }
        }
        Par::Rows => {
            let rows = m.div_ceil(SPLIT_TASKS.max(1)).div_ceil(MR) * MR;
            c.par_chunks_mut(rows * n)
                .enumerate()
                .for_each(|(task, part)| {
                    let mp = part.len() / n;
                    all_columns(
                        &a[task * rows * k..task * rows * k + mp * k],
                        mp,
                        k,
                        bits,
                        part,
                    );
                });
        }
        Par::Serial => all_columns(a, m, k, bits, c),
    }
    // @endregion
}

/// B's bits: row l is b[l * words..(l + 1) * words], entry j is bit j % 64 of word j / 64.
#[derive(Clone, Copy)]
struct Bits<'a> {
    words: usize,
    n: usize,
    b: &'a [u64],
}

/// Column strip `blk` of C (m × nc, row stride nc) in a new buffer.
fn column_strip(
    apack: &[f32],
    m: usize,
    k: usize,
    bits: Bits,
    blk: usize,
    bpack: &mut [f32],
) -> Vec<f32> {
    let (jc, nc) = (blk * NC, NC.min(bits.n - blk * NC));
    let mut strip = vec![0.0f32; m * nc];
    strip_product(apack, m, k, bits, jc, nc, bpack, &mut strip, nc);
    strip
}

/// Copies column strip `blk` into C (row stride n).
fn copy_strip(strip: &[f32], blk: usize, c: &mut [f32], n: usize) {
    let jc = blk * NC;
    let nc = strip.len() / (c.len() / n);
    for (src, dst) in strip.chunks_exact(nc).zip(c.chunks_exact_mut(n)) {
        dst[jc..jc + nc].copy_from_slice(src);
    }
}

/// c (m×n, row stride n) = a · B, one thread, strip by strip straight into c.
fn all_columns(a: &[f32], m: usize, k: usize, bits: Bits, c: &mut [f32]) {
    let n = bits.n;
    let apack = pack_a(a, m, k);
    let mut bpack = vec![0.0f32; KC.min(k) * NC.min(n).div_ceil(NR) * NR];
    for jc in (0..n).step_by(NC) {
        strip_product(
            &apack,
            m,
            k,
            bits,
            jc,
            NC.min(n - jc),
            &mut bpack,
            &mut c[jc..],
            n,
        );
    }
}

// @region loop_nest
/// out[i][j] (row stride ldo) = Σ_l A[i][l] · B[l][jc + j] for i < m, j < nc.
#[allow(clippy::too_many_arguments)]
fn strip_product(
    apack: &[f32],
    m: usize,
    k: usize,
    bits: Bits,
    jc: usize,
    nc: usize,
    bpack: &mut [f32],
    out: &mut [f32],
    ldo: usize,
) {
    for pc in (0..k).step_by(KC) {
        let kc = KC.min(k - pc);
        unpack_b(bits, pc, kc, jc, nc, bpack);
        let first = pc == 0;
        let tile = |out: &mut [f32], ir: usize, jr: usize| {
            let panel = &apack[ir * k..(ir + MR) * k];
            let acc = micro_kernel(kc, &panel[pc * MR..], &bpack[jr * kc..(jr + NR) * kc]);
            let (rows, cols) = (MR.min(m - ir), NR.min(nc - jr));
            store(&acc, &mut out[ir * ldo + jr..], ldo, rows, cols, first);
        };
        match ORDER {
            Order::JrIr => {
                for jr in (0..nc).step_by(NR) {
                    for ir in (0..m).step_by(MR) {
                        tile(out, ir, jr);
                    }
                }
            }
            Order::IrJr => {
                for ir in (0..m).step_by(MR) {
                    for jr in (0..nc).step_by(NR) {
                        tile(out, ir, jr);
                    }
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

/// acc += a ⊗ b: one broadcast per row, NR/16 vector FMAs per row (b holds ±1.0).
#[inline(always)]
fn rank1_update(acc: &mut [[f32; NR]; MR], a: &[f32; MR], b: &[f32; NR]) {
    for (row, &ai) in acc.iter_mut().zip(a) {
        for (x, &bj) in row.iter_mut().zip(b) {
            *x = ai.mul_add(bj, *x);
        }
    }
}
// @endregion

/// Writes (first depth block) or adds the valid rows×cols corner of a tile.
fn store(
    acc: &[[f32; NR]; MR],
    out: &mut [f32],
    ldo: usize,
    rows: usize,
    cols: usize,
    first: bool,
) {
    for (i, src) in acc.iter().enumerate().take(rows) {
        let dst = &mut out[i * ldo..i * ldo + cols];
        if first {
            dst.copy_from_slice(&src[..cols]);
        } else {
            for (d, &s) in dst.iter_mut().zip(&src[..cols]) {
                *d += s;
            }
        }
    }
}

// @region packing
/// Unpacks rows pc..pc+kc, columns jc..jc+nc of B into NR-wide micro-panels of ±1.0, 16
/// columns (one 16-bit slice of a word, as jc and NR are multiples of 16) at a time. Groups
/// wholly past n are zero; columns past n inside a group are -1.0 (their bits are clear) and
/// never stored.
fn unpack_b(bits: Bits, pc: usize, kc: usize, jc: usize, nc: usize, out: &mut [f32]) {
    let len = nc.div_ceil(NR) * NR * kc;
    for (p, panel) in out[..len].chunks_exact_mut(NR * kc).enumerate() {
        let j0 = jc + p * NR;
        for (kk, dst) in panel.chunks_exact_mut(NR).enumerate() {
            let row = &bits.b[(pc + kk) * bits.words..(pc + kk + 1) * bits.words];
            let (groups, _) = dst.as_chunks_mut::<16>();
            for (g, lanes) in groups.iter_mut().enumerate() {
                let j = j0 + 16 * g;
                if j < bits.n {
                    expand16((row[j / 64] >> (j % 64)) as u32, lanes);
                } else {
                    *lanes = [0.0; 16];
                }
            }
        }
    }
}

/// lanes[l] = +1.0 if bit l of `word` is set, else -1.0 (the sign bit is the inverted bit).
#[inline(always)]
fn expand16(word: u32, lanes: &mut [f32; 16]) {
    for (l, x) in lanes.iter_mut().enumerate() {
        let sign = (!(word >> l) & 1) << 31;
        *x = f32::from_bits(ONE | sign);
    }
}

/// Packs all of A (m×k) into MR-tall micro-panels over the whole depth (panel q holds rows
/// q·MR.., column l at q·MR·k + l·MR), zero-padding the rows past m.
fn pack_a(a: &[f32], m: usize, k: usize) -> Vec<f32> {
    let mut out = vec![0.0f32; m.div_ceil(MR) * MR * k];
    for (q, panel) in out.chunks_exact_mut(MR * k).enumerate() {
        let i0 = q * MR;
        for i in 0..MR.min(m - i0) {
            let src = &a[(i0 + i) * k..(i0 + i + 1) * k];
            for (col, &v) in panel.chunks_exact_mut(MR).zip(src) {
                col[i] = v;
            }
        }
    }
    out
}
// @endregion
