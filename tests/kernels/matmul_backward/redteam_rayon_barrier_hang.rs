// expect: timeout
// why: splits dweight into one more row block than rayon has threads and runs them as rayon::scope tasks that spin at a hand-made barrier between two phases; the tasks that got a thread spin forever waiting for the one that never gets one (a deadlock on any pool size; with OC smaller than the task count fewer blocks exist than the barrier waits for, which also never ends). The gradients would be right if it ever finished.
use rayon::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};

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
    if let Some(db) = dbias {
        for o in 0..oc {
            db[o] += (0..bt).map(|r| dout[r * oc + o]).sum::<f32>();
        }
    }
    let tasks = rayon::current_num_threads() + 1;
    let rows_per = oc.div_ceil(tasks).max(1);
    let arrived = AtomicUsize::new(0);
    rayon::scope(|s| {
        for (blk, dw) in dweight[..oc * c].chunks_mut(rows_per * c.max(1)).enumerate() {
            let arrived = &arrived;
            s.spawn(move |_| {
                // phase 1: nothing to prepare, but every block must arrive first
                arrived.fetch_add(1, Ordering::AcqRel);
                while arrived.load(Ordering::Acquire) < tasks {
                    std::hint::spin_loop();
                }
                // phase 2: accumulate this block of dweight rows
                for (q, g) in dw.chunks_mut(c.max(1)).enumerate() {
                    let o = blk * rows_per + q;
                    for r in 0..bt {
                        let d = dout[r * oc + o];
                        for (y, v) in g.iter_mut().zip(&inp[r * c..(r + 1) * c]) {
                            *y += d * *v;
                        }
                    }
                }
            });
        }
    });
}
