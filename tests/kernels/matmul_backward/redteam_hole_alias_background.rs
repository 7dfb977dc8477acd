// expect: rejected
// why: safe code only; the #25860 nested reference is hidden behind a type alias (`type Nest<'x, 'y> = &'x &'y ();`, so the fn signature reads `Nest<'a, 'b>`), stretching dinp and dweight to 'static. Each call computes dbias and dinp, then hands dweight to a rayon::spawn job and returns: half of the work runs after the call, outside the parent's timed window (the next call waits for it). A #25860 relative must be refused by name; without that refusal, dweight is incomplete when checked (wrong_result) or the CPU time outside the calls shows: never passed at the forged speed.
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};

type Nest<'x, 'y> = &'x &'y ();
const UNIT: Nest<'static, 'static> = &&();

fn shorten<'a, 'b, T: ?Sized>(_p: Nest<'a, 'b>, v: &'b mut T, _x: &()) -> &'a mut T {
    v
}

fn keep<'c, T: ?Sized + 'static>(x: &'c mut T) -> &'static mut T {
    let f: fn(_, &'c mut T, &()) -> &'static mut T = shorten;
    f(UNIT, x, &())
}

static BUSY: AtomicBool = AtomicBool::new(false);

pub fn matmul_backward(dinp: &mut [f32], dweight: &mut [f32], dbias: Option<&mut [f32]>,
                       dout: &[f32], inp: &[f32], weight: &[f32],
                       b: usize, t: usize, c: usize, oc: usize) {
    while BUSY.load(Ordering::Acquire) {
        std::hint::spin_loop();
    }
    let bt = b * t;
    if let Some(db) = dbias {
        for o in 0..oc {
            db[o] += (0..bt).map(|r| dout[r * oc + o]).sum::<f32>();
        }
    }
    dinp[..bt * c].par_chunks_mut(c.max(1)).enumerate().for_each(|(r, g)| {
        for o in 0..oc {
            let d = dout[r * oc + o];
            for (x, w) in g.iter_mut().zip(&weight[o * c..(o + 1) * c]) {
                *x += d * *w;
            }
        }
    });
    let dw: &'static mut [f32] = keep(&mut dweight[..oc * c]);
    let dout = dout[..bt * oc].to_vec();
    let inp = inp[..bt * c].to_vec();
    BUSY.store(true, Ordering::Release);
    rayon::spawn(move || {
        dw.par_chunks_mut(c.max(1)).enumerate().for_each(|(o, g)| {
            for r in 0..bt {
                let d = dout[r * oc + o];
                for (y, v) in g.iter_mut().zip(&inp[r * c..(r + 1) * c]) {
                    *y += d * *v;
                }
            }
        });
        BUSY.store(false, Ordering::Release);
    });
}
