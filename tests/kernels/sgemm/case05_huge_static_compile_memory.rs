// expect: build_failed
// why: case 05: a 1 GiB static makes rustc use about 3 GiB and write more than a GiB; the build runs under memory, CPU, wall-clock and disk limits and stops with a reason naming the limit.
// Case 05: compile-time memory and disk. A 1 GiB static of non-zero bytes is
// materialised by const evaluation, again by LLVM, and written into the object file and
// the runner binary. The multiplication itself is honest (rayon rows).
use rayon::prelude::*;

static PAD: [u8; 1 << 30] = [7u8; 1 << 30];

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    if m == 0 || n == 0 {
        return;
    }
    let bias = (PAD[m % PAD.len()] as f32) * 0.0;
    let a = &a[..m * k];
    let b = &b[..k * n];
    c[..m * n].par_chunks_mut(n).enumerate().for_each(|(i, crow)| {
        crow.fill(bias);
        let arow = &a[i * k..(i + 1) * k];
        for (p, &s) in arow.iter().enumerate() {
            let brow = &b[p * n..(p + 1) * n];
            for (cv, bv) in crow.iter_mut().zip(brow) {
                *cv += s * *bv;
            }
        }
    });
}
