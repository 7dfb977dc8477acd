// expect: wrong_result
// why: memoises C in a static Mutex keyed only by the shape (m,n,k); a repeated shape (every benchmark call after the first) gets the previous call's C for new inputs.
use std::sync::Mutex;

static CACHE: Mutex<Vec<((usize, usize, usize), Vec<f32>)>> = Mutex::new(Vec::new());

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    let key = (m, n, k);
    let mut cache = CACHE.lock().unwrap();
    if let Some((_, hit)) = cache.iter().find(|(s, _)| *s == key) {
        c[..m * n].copy_from_slice(hit);
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
    cache.push((key, c[..m * n].to_vec()));
}
