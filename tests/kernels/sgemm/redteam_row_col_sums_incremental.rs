// expect: wrong_result
// why: keeps the last C and recomputes only the elements whose A row sum or B column sum changed: stale after a swap inside an A row or a B column. Caught by row and column swaps of one input alone.
// (written by a red team that had not read the checker, 2026-11-30)
// incremental: recompute only C rows whose A-row f64 sum changed and C columns whose B-column f64 sum changed
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
struct St { m: usize, n: usize, k: usize, rs: Vec<f64>, cs: Vec<f64>, c: Vec<f32> }
static CACHE: Mutex<Option<St>> = Mutex::new(None);
pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    if m == 0 || n == 0 { return; }
    let rs: Vec<f64> = (0..m).map(|i| a[i * k..(i + 1) * k].iter().map(|&v| v as f64).sum()).collect();
    let mut cs = vec![0f64; n];
    for p in 0..k { for j in 0..n { cs[j] += b[p * n + j] as f64; } }
    let same = |x: f64, y: f64| x.to_bits() == y.to_bits();
    let mut g = CACHE.lock().unwrap();
    if let Some(st) = g.as_mut() {
        if st.m == m && st.n == n && st.k == k {
            for i in 0..m { for j in 0..n {
                if !same(st.rs[i], rs[i]) || !same(st.cs[j], cs[j]) {
                    let mut s = 0f32; for p in 0..k { s += a[i * k + p] * b[p * n + j]; } st.c[i * n + j] = s;
                }
            } }
            st.rs = rs; st.cs = cs;
            c[..m * n].copy_from_slice(&st.c);
            return;
        }
    }
    honest(m, n, k, a, b, c);
    *g = Some(St { m, n, k, rs, cs, c: c[..m * n].to_vec() });
}
