// expect: passed
// why: packs B transposed into a scratch Vec (n x k), then each C element is a dot product of two contiguous rows with 8 independent partial sums; rayon over rows; correct.
use rayon::prelude::*;

fn dot(x: &[f32], y: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let xc = x.chunks_exact(8);
    let yc = y.chunks_exact(8);
    let (xr, yr) = (xc.remainder(), yc.remainder());
    for (u, v) in xc.zip(yc) {
        for t in 0..8 {
            acc[t] += u[t] * v[t];
        }
    }
    let mut s = 0.0f32;
    for (u, v) in xr.iter().zip(yr) {
        s += u * v;
    }
    s + ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]))
}

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    if m == 0 || n == 0 {
        return;
    }
    // bt[j*k + p] = b[p*n + j], transposed in 64x64 tiles.
    let mut bt = vec![0.0f32; n * k];
    const T: usize = 64;
    for p0 in (0..k).step_by(T) {
        for j0 in (0..n).step_by(T) {
            for p in p0..(p0 + T).min(k) {
                for j in j0..(j0 + T).min(n) {
                    bt[j * k + p] = b[p * n + j];
                }
            }
        }
    }
    let a = &a[..m * k];
    c[..m * n].par_chunks_mut(n).enumerate().for_each(|(i, crow)| {
        let arow = &a[i * k..i * k + k];
        for (j, out) in crow.iter_mut().enumerate() {
            *out = dot(arow, &bt[j * k..j * k + k]);
        }
    });
}
