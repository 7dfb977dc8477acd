// expect: wrong_result
// why: honest on every correctness case, on the warm-up and on the first timed call; from the third call at B·T·OC >= 2^20 on, one dweight element per call (at a position that moves each call) is off by 1 + its own magnitude: far outside its per-element bound, but one element in OC·C hides in a random-vector sketch and is rarely in a few random rows or columns. Finding it needs every element of those later calls checked, or a full check on a call the kernel cannot predict.
use rayon::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};

static BIG_CALLS: AtomicUsize = AtomicUsize::new(0);

pub fn matmul_backward(dinp: &mut [f32], dweight: &mut [f32], dbias: Option<&mut [f32]>,
                       dout: &[f32], inp: &[f32], weight: &[f32],
                       b: usize, t: usize, c: usize, oc: usize) {
    let bt = b * t;
    dinp[..bt * c].par_chunks_mut(c.max(1)).enumerate().for_each(|(r, g)| {
        for o in 0..oc {
            let d = dout[r * oc + o];
            for (x, w) in g.iter_mut().zip(&weight[o * c..(o + 1) * c]) {
                *x += d * *w;
            }
        }
    });
    dweight[..oc * c].par_chunks_mut(c.max(1)).enumerate().for_each(|(o, g)| {
        for r in 0..bt {
            let d = dout[r * oc + o];
            for (y, v) in g.iter_mut().zip(&inp[r * c..(r + 1) * c]) {
                *y += d * *v;
            }
        }
    });
    if let Some(db) = dbias {
        for o in 0..oc {
            db[o] += (0..bt).map(|r| dout[r * oc + o]).sum::<f32>();
        }
    }
    if bt * oc >= 1 << 20 && oc * c > 0 {
        let call = BIG_CALLS.fetch_add(1, Ordering::Relaxed);
        if call >= 2 {
            let at = call.wrapping_mul(0x9E37_79B9_7F4A_7C15) % (oc * c);
            dweight[at] += 1.0 + dweight[at].abs();
        }
    }
}
