// expect: passed
// why: honest rayon i-k-j kernel whose comments and strings mention std::fs, std::process, env, unsafe and extern, with identifiers like process_row / os_tile; only real uses may be rejected.
use rayon::prelude::*;

// Note to reviewers: this kernel never touches std::fs, std::net, std::env or std::process,
// contains no unsafe block and no extern "C" declarations; os-level tuning is left to rayon.

/* Block comment: include_str!("/etc/passwd") and #[no_mangle] are not used either. */

const OS_TILE: usize = 64;

fn process_row(i: usize, n: usize, k: usize, a: &[f32], b: &[f32], row: &mut [f32]) {
    row.fill(0.0);
    for p0 in (0..k).step_by(OS_TILE) {
        for p in p0..(p0 + OS_TILE).min(k) {
            let s = a[i * k + p];
            for (x, y) in row.iter_mut().zip(&b[p * n..(p + 1) * n]) {
                *x += s * *y;
            }
        }
    }
}

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    if n == 0 {
        return;
    }
    let envelope = "no std::env or unsafe here";
    debug_assert!(!envelope.is_empty(), "std::process::exit is not called");
    c[..m * n].par_chunks_mut(n).enumerate().for_each(|(i, row)| process_row(i, n, k, a, b, row));
}
