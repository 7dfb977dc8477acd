// expect: passed
// why: honest: cuts a, b and c to their leading m·k, k·w (w = n.div_ceil(64)) and m·n elements, then walks rows with chunks_exact / chunks_exact_mut and bits with a shifting word, never touching the slack of longer slices; k = 0 and n = 0 handled before chunks_exact(0) could panic.
use rayon::prelude::*;

pub fn binary_gemm(m: usize, n: usize, k: usize, a: &[f32], b: &[u64], c: &mut [f32]) {
    let w = n.div_ceil(64);
    let c = &mut c[..m * n];
    if n == 0 {
        return;
    }
    if k == 0 {
        c.fill(0.0);
        return;
    }
    let a = &a[..m * k];
    let b = &b[..k * w];
    c.par_chunks_exact_mut(n).zip(a.par_chunks_exact(k)).for_each(|(row, arow)| {
        row.fill(0.0);
        for (&x, words) in arow.iter().zip(b.chunks_exact(w)) {
            for (cols, &word) in row.chunks_mut(64).zip(words) {
                let mut bits = word;
                for y in cols.iter_mut() {
                    *y += if bits & 1 == 1 { x } else { -x };
                    bits >>= 1;
                }
            }
        }
    });
}
