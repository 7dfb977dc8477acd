// expect: wrong_result
// flags: --samples 8
// why: case 01's edge-tile bug (one element of C loses its last K term) but only from the third call at m·n·k >= 2^27 on, at a position that moves each call: correctness cases, the warm-up and the first timed call are exact. The error (~|a·b|, ~100x the element's bound) is invisible to row sketches and rarely in a few random rows or columns; only a full comparison of those later calls finds it.
use rayon::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};

static BIG_CALLS: AtomicUsize = AtomicUsize::new(0);

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    if m == 0 || n == 0 {
        return;
    }
    c[..m * n].par_chunks_mut(n).enumerate().for_each(|(i, row)| {
        row.fill(0.0);
        for p in 0..k {
            let s = a[i * k + p];
            for (y, v) in row.iter_mut().zip(&b[p * n..(p + 1) * n]) {
                *y += s * *v;
            }
        }
    });
    if m * n * k >= 1 << 27 && k > 0 {
        let call = BIG_CALLS.fetch_add(1, Ordering::Relaxed);
        if call >= 2 {
            let at = call.wrapping_mul(0x9E37_79B9_7F4A_7C15) % (m * n);
            let (i, j) = (at / n, at % n);
            c[at] -= a[i * k + k - 1] * b[(k - 1) * n + j];
        }
    }
}
