// expect: wrong_result
// why: caches C under a key of the shape and an order-insensitive checksum of every element of A and B: inputs with two elements swapped get the stale C. Caught by updates that swap two elements of different values.
use rayon::prelude::*;
use std::sync::Mutex;
fn honest(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    if m == 0 || n == 0 { return; }
    c[..m * n].par_chunks_mut(n).enumerate().for_each(|(i, crow)| {
        crow.fill(0.0);
        for p in 0..k {
            let s = a[i * k + p];
            for (cv, bv) in crow.iter_mut().zip(&b[p * n..(p + 1) * n]) { *cv += s * *bv; }
        }
    });
}

// Memoises the last C keyed by the shape and a full (every element) but order-insensitive
// checksum of A and of B (wrapping sums of the bit patterns). Any change of a value changes the
// key, so repeated and updated inputs are right; but inputs that are a permutation of the last
// ones (a reshuffled batch: the same rows of A in another order) hit the cache and get the
// old C, with its rows in the old order.
static CACHE: Mutex<Option<((usize, usize, usize, u64, u64), Vec<f32>)>> = Mutex::new(None);

fn sum_bits(x: &[f32]) -> u64 {
    x.iter().fold(0u64, |s, v| s.wrapping_add((v.to_bits() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)))
}

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    let key = (m, n, k, sum_bits(&a[..m * k]), sum_bits(&b[..k * n]));
    let mut g = CACHE.lock().unwrap();
    if let Some((kk, v)) = g.as_ref() {
        if *kk == key { c[..m * n].copy_from_slice(v); return; }
    }
    honest(m, n, k, a, b, c);
    *g = Some((key, c[..m * n].to_vec()));
}
