// expect: passed
// why: honest: cuts a, b and c to their leading m·k, k·w (w = n.div_ceil(64)) and m·n elements, then walks them with chunks_exact / chunks_exact_mut only: per row l of B it unpacks the words into ±1.0 once and adds a[i][l]·signs to each row of its block of C (rayon over row blocks); never touches the slack of longer slices; k = 0 and n = 0 handled before chunks_exact(0) could panic.
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
    let group = m.div_ceil(2 * rayon::current_num_threads()).max(1);
    c.par_chunks_mut(group * n).zip(a.par_chunks(group * k)).for_each(|(cblk, ablk)| {
        cblk.fill(0.0);
        let mut signs = vec![0.0f32; n];
        for (l, words) in b.chunks_exact(w).enumerate() {
            for (cols, &word) in signs.chunks_mut(64).zip(words) {
                for (bit, s) in cols.iter_mut().enumerate() {
                    *s = if (word >> bit) & 1 == 1 { 1.0 } else { -1.0 };
                }
            }
            for (row, arow) in cblk.chunks_exact_mut(n).zip(ablk.chunks_exact(k)) {
                let x = arow[l];
                for (y, s) in row.iter_mut().zip(&signs) {
                    *y += x * *s;
                }
            }
        }
    });
}
