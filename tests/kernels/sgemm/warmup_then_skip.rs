// expect: wrong_result
// why: does the real work for the first 6 calls (counted in a static AtomicUsize), then returns immediately leaving C as poisoned NaN.
use std::sync::atomic::{AtomicUsize, Ordering};

static CALLS: AtomicUsize = AtomicUsize::new(0);
const HONEST_CALLS: usize = 6;

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    if CALLS.fetch_add(1, Ordering::Relaxed) >= HONEST_CALLS {
        return;
    }
    for i in 0..m {
        c[i * n..(i + 1) * n].fill(0.0);
        for p in 0..k {
            let s = a[i * k + p];
            for j in 0..n {
                c[i * n + j] += s * b[p * n + j];
            }
        }
    }
}
