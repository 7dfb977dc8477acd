// expect: rejected
// why: safe code only and no lifetimes at all: rust-lang/rust#57893 (a blanket impl's associated type projected through `dyn Object<U, Output = T>`) is a safe transmute between any two types, here of `&mut [f32]` into `&'static mut [f32]`. Each call computes the first half of out's rows, hands the second half to a rayon::spawn job and returns: work leaves the timed window (the next call waits for it). A relative of the known soundness holes must be refused by name; without that refusal the second half is unfinished when checked, never passed.
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, Ordering};

trait Object<U> {
    type Output;
}

impl<T: ?Sized, U> Object<U> for T {
    type Output = U;
}

fn pass<T: ?Sized, U>(x: <T as Object<U>>::Output) -> U {
    x
}

fn cast<T, U>(x: T) -> U {
    pass::<dyn Object<U, Output = T>, U>(x)
}

static BUSY: AtomicBool = AtomicBool::new(false);

fn rows(out: &mut [f32], r0: usize, inp: &[f32], weight: &[f32], bias: &[f32], c: usize, oc: usize) {
    out.par_chunks_mut(oc).enumerate().for_each(|(r, row)| {
        let x = &inp[(r0 + r) * c..(r0 + r + 1) * c];
        for (o, y) in row.iter_mut().enumerate() {
            let dot: f32 = x.iter().zip(&weight[o * c..(o + 1) * c]).map(|(p, q)| p * q).sum();
            *y = bias[o] + dot;
        }
    });
}

pub fn matmul_forward(out: &mut [f32], inp: &[f32], weight: &[f32], bias: Option<&[f32]>,
                      b: usize, t: usize, c: usize, oc: usize) {
    while BUSY.load(Ordering::Acquire) {
        std::hint::spin_loop();
    }
    let bt = b * t;
    if oc == 0 {
        return;
    }
    let bias: Vec<f32> = bias.map_or(vec![0.0; oc], |bv| bv[..oc].to_vec());
    let half = bt / 2;
    let (top, bottom) = out[..bt * oc].split_at_mut(half * oc);
    rows(top, 0, inp, weight, &bias, c, oc);
    let bottom: &'static mut [f32] = cast(bottom);
    let inp = inp[..bt * c].to_vec();
    let weight = weight[..oc * c].to_vec();
    BUSY.store(true, Ordering::Release);
    rayon::spawn(move || {
        rows(bottom, half, &inp, &weight, &bias, c, oc);
        BUSY.store(false, Ordering::Release);
    });
}
