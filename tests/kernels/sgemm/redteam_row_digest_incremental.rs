// expect: wrong_result
// why: keeps the last C and recomputes only the rows whose A row has a new order-insensitive digest (B by a positional hash): stale when two elements of one A row swap places and B is unchanged. Caught by a row swap in A alone.
// (written by a red team that had not read the checker, 2026-11-30)
// incremental: keeps last C; B checked by full positional hash; A rows re-done only if the row's order-insensitive digest changed
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
struct St { m: usize, n: usize, k: usize, bh: u64, rows: Vec<u64>, c: Vec<f32> }
static CACHE: Mutex<Option<St>> = Mutex::new(None);
fn rowdig(x: &[f32]) -> u64 { x.iter().fold(0u64, |s, v| s.wrapping_add((v.to_bits() as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))) }
pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    if m == 0 || n == 0 { return; }
    let bh = phash(&b[..k * n]);
    let rows: Vec<u64> = (0..m).map(|i| rowdig(&a[i * k..(i + 1) * k])).collect();
    let mut g = CACHE.lock().unwrap();
    if let Some(st) = g.as_mut() {
        if st.m == m && st.n == n && st.k == k && st.bh == bh {
            for i in 0..m {
                if st.rows[i] != rows[i] {
                    let crow = &mut st.c[i * n..(i + 1) * n];
                    crow.fill(0.0);
                    for p in 0..k { let s = a[i * k + p]; for j in 0..n { crow[j] += s * b[p * n + j]; } }
                }
            }
            st.rows = rows;
            c[..m * n].copy_from_slice(&st.c);
            return;
        }
    }
    honest(m, n, k, a, b, c);
    *g = Some(St { m, n, k, bh, rows, c: c[..m * n].to_vec() });
}
