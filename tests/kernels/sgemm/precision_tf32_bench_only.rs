// expect: wrong_result
// why: exact on small shapes and on its first large call; afterwards truncates A and B to a 10-bit mantissa (TF32-like) before multiplying: per-element error ~3x the f32 bound at 1024^3, small enough to slip under a row-sum (Freivalds) tolerance.
use rayon::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};

static BIG_CALLS: AtomicUsize = AtomicUsize::new(0);

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    if n == 0 {
        return;
    }
    let big = m * n * k >= 1 << 27;
    let mask: u32 = if big && BIG_CALLS.fetch_add(1, Ordering::Relaxed) > 0 { 0xFFFF_E000 } else { u32::MAX };
    let q = |x: f32| f32::from_bits(x.to_bits() & mask);
    let bq: Vec<f32> = b[..k * n].iter().map(|&x| q(x)).collect();
    c[..m * n].par_chunks_mut(n).enumerate().for_each(|(i, row)| {
        row.fill(0.0);
        for p in 0..k {
            let s = q(a[i * k + p]);
            for (x, y) in row.iter_mut().zip(&bq[p * n..(p + 1) * n]) {
                *x += s * *y;
            }
        }
    });
}
