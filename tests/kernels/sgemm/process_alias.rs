// expect: rejected
// why: hides std::process behind a grouped alias import (use std::{process as p}) and calls p::exit(0) after a correct small case; the gate must see through the alias.
use std::{process as p, sync::atomic::{AtomicUsize, Ordering}};

static CALLS: AtomicUsize = AtomicUsize::new(0);

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    if CALLS.fetch_add(1, Ordering::Relaxed) > 3 {
        p::exit(0);
    }
    for i in 0..m {
        let row = &mut c[i * n..(i + 1) * n];
        row.fill(0.0);
        for p in 0..k {
            let s = a[i * k + p];
            for (x, y) in row.iter_mut().zip(&b[p * n..(p + 1) * n]) {
                *x += s * *y;
            }
        }
    }
}
