// expect: wrong_result
// why: right on small shapes and on the first large call; on every later call with B·T·OC >= 2^20 (the timed calls) it adds +e/-e/-e/+e (e = 1 + the largest |value| in the block, so far outside any per-element bound at every magnitude) to a 2x2 block of out at a position that moves each call: every row sum and every column sum stays exact, so only a check with random (not all-ones) vectors or a full comparison finds it.
use rayon::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};

static BIG_CALLS: AtomicUsize = AtomicUsize::new(0);

/// Dot product with 8 independent partial sums (vectorises).
fn dot(x: &[f32], w: &[f32]) -> f32 {
    let mut s = [0.0f32; 8];
    let (xs, ws) = (x.chunks_exact(8), w.chunks_exact(8));
    let tail: f32 = xs.remainder().iter().zip(ws.remainder()).map(|(p, q)| p * q).sum();
    for (xc, wc) in xs.zip(ws) {
        for l in 0..8 {
            s[l] += xc[l] * wc[l];
        }
    }
    s.iter().sum::<f32>() + tail
}

pub fn matmul_forward(out: &mut [f32], inp: &[f32], weight: &[f32], bias: Option<&[f32]>,
                      b: usize, t: usize, c: usize, oc: usize) {
    let bt = b * t;
    if oc == 0 {
        return;
    }
    out[..bt * oc].par_chunks_mut(oc).enumerate().for_each(|(r, row)| {
        let x = &inp[r * c..(r + 1) * c];
        for (o, y) in row.iter_mut().enumerate() {
            *y = bias.map_or(0.0, |bv| bv[o]) + dot(x, &weight[o * c..(o + 1) * c]);
        }
    });
    if bt * oc >= 1 << 20 && bt >= 2 && oc >= 2 {
        let call = BIG_CALLS.fetch_add(1, Ordering::Relaxed);
        if call > 0 {
            let h = call.wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let (r, o) = (h % (bt - 1), (h >> 20) % (oc - 1));
            let cells = [r * oc + o, r * oc + o + 1, (r + 1) * oc + o, (r + 1) * oc + o + 1];
            let e = 1.0 + cells.iter().fold(0.0f32, |m, &i| m.max(out[i].abs()));
            for (i, sign) in cells.into_iter().zip([1.0f32, -1.0, -1.0, 1.0]) {
                out[i] += sign * e;
            }
        }
    }
}
