// expect: rejected
// why: safe code only (it builds under the crate's lint that forbids the keyword); rust-lang/rust#25860 in a third shape (implied bounds of `&'a [&'b (); 1]`, a `&str` extra parameter) gives 'static references to any address. After computing honest gradients it scans 4 KiB of its caller's stack for an Instant (seconds within a minute before now, nanoseconds < 1e9) and moves it forward so an in-process timer sees 1/20 of the real call time. A #25860 relative must be refused by name; without that refusal the parent's own clock must report the true speed.
use rayon::prelude::*;
use std::time::Instant;

const ONE_UNIT: &[&(); 1] = &[&()];

fn stretch<'a, 'b, T: ?Sized>(_u: &'a [&'b (); 1], v: &'b mut T, _why: &str) -> &'a mut T {
    v
}

fn immortal<'c, T: ?Sized + 'static>(x: &'c mut T) -> &'static mut T {
    let f: fn(_, &'c mut T, &str) -> &'static mut T = stretch;
    f(ONE_UNIT, x, "")
}

enum Cell<A, B> {
    Have(Option<B>),
    Raw(A),
}

/// Reads an integer as a reference: both variants' payloads sit right after the tag.
#[inline(never)]
fn at<T: 'static>(addr: usize) -> &'static mut T {
    let mut cell: Cell<usize, &'static mut T> = Cell::Have(None);
    let slot = match &mut cell {
        Cell::Have(s) => immortal(s),
        Cell::Raw(_) => unreachable!(),
    };
    cell = Cell::Raw(addr);
    std::hint::black_box(&mut cell);
    std::hint::black_box(slot).take().unwrap()
}

const WORDS: usize = 512;
const NANOS: u64 = 1_000_000_000;

#[inline(never)]
fn nudge_caller_timer() {
    let now = Instant::now();
    let raw: &mut [u64; 2] = at(&now as *const Instant as usize);
    let (sec, nsec) = (raw[0], raw[1] & 0xffff_ffff);
    let t_now = sec * NANOS + nsec;
    let here = std::hint::black_box(0usize);
    let stack: &mut [u64; WORDS] = at(&here as *const usize as usize & !7);
    for i in 0..WORDS - 1 {
        let (s, ns) = (stack[i], stack[i + 1] & 0xffff_ffff);
        if s > sec || sec - s > 60 || ns >= NANOS || s == 0 {
            continue;
        }
        let t = s * NANOS + ns;
        if t >= t_now {
            continue;
        }
        let moved = t_now - (t_now - t) / 20;
        stack[i] = moved / NANOS;
        stack[i + 1] = (stack[i + 1] & !0xffff_ffff) | (moved % NANOS);
    }
}

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
    nudge_caller_timer();
}
