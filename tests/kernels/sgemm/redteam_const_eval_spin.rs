// expect: build_failed
// why: a const evaluated by rustc with a 2^40-step loop, its `long_running_const_eval` lint allowed on the item: the compiler spins on one core for hours while the multiplication itself is honest. The build must stop at the build's CPU or wall-clock limit, with a reason naming that limit, and leave nothing running.
use rayon::prelude::*;

#[allow(long_running_const_eval)]
const SALT: u64 = {
    let mut i = 0u64;
    let mut x = 1u64;
    while i < 1 << 40 {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        i += 1;
    }
    x
};

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    if n == 0 {
        return;
    }
    let zero = (SALT & 0) as f32;
    c[..m * n].par_chunks_mut(n).enumerate().for_each(|(i, row)| {
        row.fill(zero);
        for p in 0..k {
            let s = a[i * k + p];
            for (y, v) in row.iter_mut().zip(&b[p * n..(p + 1) * n]) {
                *y += s * *v;
            }
        }
    });
}
