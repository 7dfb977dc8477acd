// expect: wrong_result
// why: reuses the last C when every input element is within 1e-3 (relative) of the cached inputs. Caught by the nudge update (a few elements moved by one mantissa bit, relative 2^-13…2^-10).
// (written by a red team that had not read the checker, 2026-11-30)
// reuse last C if new A,B are within 1e-3 relative (elementwise) of the cached A,B
use rayon::prelude::*;
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
fn phash(x: &[f32]) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for v in x { h ^= v.to_bits() as u64; h = h.wrapping_mul(0x100000001b3); h ^= h >> 29; }
    h
}
use std::sync::Mutex;
struct St { m: usize, n: usize, k: usize, a: Vec<f32>, b: Vec<f32>, c: Vec<f32> }
static CACHE: Mutex<Option<St>> = Mutex::new(None);
fn close(x: &[f32], y: &[f32]) -> bool {
    x.iter().zip(y).all(|(&p, &q)| p.to_bits() == q.to_bits() || (p - q).abs() <= 1e-3 * p.abs().max(q.abs()))
}
pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    let mut g = CACHE.lock().unwrap();
    if let Some(st) = g.as_ref() {
        if st.m == m && st.n == n && st.k == k && close(&st.a, &a[..m * k]) && close(&st.b, &b[..k * n]) {
            c[..m * n].copy_from_slice(&st.c); return;
        }
    }
    honest(m, n, k, a, b, c);
    *g = Some(St { m, n, k, a: a[..m * k].to_vec(), b: b[..k * n].to_vec(), c: c[..m * n].to_vec() });
}
