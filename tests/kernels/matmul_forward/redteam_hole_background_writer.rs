// expect: rejected
// why: safe code only (it builds under the crate's lint that forbids the keyword); rust-lang/rust#25860 (implied bounds of `&'a Option<&'b ()>` with a `&[u8]` extra parameter) stretches `out` to 'static, so each call hands the whole product to a rayon::spawn job and returns at once: the timed window sees ~0 s and the work runs during the checker's untimed phase (the next call waits for it). A #25860 relative must be refused by name; without that refusal the output is incomplete at return (wrong_result) or the CPU time outside the windows shows: never passed at the forged speed.
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};

const NONE: &Option<&()> = &None;

fn outlive<'a, 'b, T: ?Sized>(_o: &'a Option<&'b ()>, v: &'b mut T, _pad: &[u8]) -> &'a mut T {
    v
}

fn detach<'c, T: ?Sized + 'static>(x: &'c mut T) -> &'static mut T {
    let f: fn(_, &'c mut T, &[u8]) -> &'static mut T = outlive;
    f(NONE, x, &[])
}

static BUSY: AtomicBool = AtomicBool::new(false);

pub fn matmul_forward(out: &mut [f32], inp: &[f32], weight: &[f32], bias: Option<&[f32]>,
                      b: usize, t: usize, c: usize, oc: usize) {
    while BUSY.load(Ordering::Acquire) {
        std::hint::spin_loop(); // the previous call's job is still writing
    }
    if oc == 0 {
        return;
    }
    let out: &'static mut [f32] = detach(&mut out[..b * t * oc]);
    let inp = inp[..b * t * c].to_vec();
    let weight = weight[..oc * c].to_vec();
    let bias: Vec<f32> = bias.map_or(vec![0.0; oc], |bv| bv[..oc].to_vec());
    BUSY.store(true, Ordering::Release);
    rayon::spawn(move || {
        out.par_chunks_mut(oc).enumerate().for_each(|(r, row)| {
            let x = &inp[r * c..(r + 1) * c];
            for (o, y) in row.iter_mut().enumerate() {
                let dot: f32 = x.iter().zip(&weight[o * c..(o + 1) * c]).map(|(p, q)| p * q).sum();
                *y = bias[o] + dot;
            }
        });
        BUSY.store(false, Ordering::Release);
    });
}
