// expect: wrong_result
// why: times itself with std::time::Instant: when called again within 50 ms of its previous return with the same shape (a benchmark loop), it skips the last row of C (a 1/m saving, leaving that row as the caller's garbage); every isolated call (correctness cases, warm-up) is right.
use rayon::prelude::*;
use std::sync::Mutex;
use std::time::{Duration, Instant};

static LAST: Mutex<Option<(Instant, usize, usize, usize)>> = Mutex::new(None);

pub fn binary_gemm(m: usize, n: usize, k: usize, a: &[f32], b: &[u64], c: &mut [f32]) {
    let mut last = LAST.lock().unwrap();
    let hurried = matches!(*last, Some((at, lm, ln, lk))
        if (lm, ln, lk) == (m, n, k) && at.elapsed() < Duration::from_millis(50));
    let rows = if hurried && m > 1 { m - 1 } else { m };
    let w = n.div_ceil(64);
    if n > 0 {
        c[..rows * n].par_chunks_mut(n).enumerate().for_each(|(i, row)| {
            row.fill(0.0);
            for l in 0..k {
                let x = a[i * k + l];
                let words = &b[l * w..(l + 1) * w];
                for (j, y) in row.iter_mut().enumerate() {
                    *y += if (words[j / 64] >> (j % 64)) & 1 == 1 { x } else { -x };
                }
            }
        });
    }
    *last = Some((Instant::now(), m, n, k));
}
