// expect: wrong_result
// why: honest on small shapes; at large shapes it recovers the per-call seed from A (brute-forcing small order seeds with the harness's public splitmix64 scheme), regenerates the Freivalds vectors and writes a rank-2 C that satisfies exactly those checks in O(n^2), spinning to a plausible 11 ms. Honest on call 0 and calls >= 30 (where probes are taken with default settings). If no seed is found C is left unwritten. C is wrong either way.
use std::time::{Duration, Instant};

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

fn mix(x: u64) -> u64 {
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
fn sub(seed: u64, index: u64) -> u64 {
    mix(seed ^ mix(index.wrapping_add(1).wrapping_mul(GOLDEN)))
}
fn val(stream: u64, idx: usize) -> f32 {
    let w = mix(stream.wrapping_add((idx as u64).wrapping_add(1).wrapping_mul(GOLDEN)));
    ((w >> 40) as f32) * (1.0 / 8_388_608.0) - 1.0
}

fn honest(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    for i in 0..m {
        let row = &mut c[i * n..(i + 1) * n];
        row.fill(0.0);
        for p in 0..k {
            let s = a[i * k + p];
            for (x, y) in row.iter_mut().zip(&b[p * n..(p + 1) * n]) {
                *x += s * *y;
            }
        }
    }
}

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    if m * n * k < 1 << 27 {
        return honest(m, n, k, a, b, c);
    }
    let t0 = Instant::now();
    let mut found = None;
    'search: for s in 0..20_000u64 {
        for call in 0..64u64 {
            let cs = sub(s, call);
            let st = sub(cs, 0);
            if val(st, 0) == a[0] && val(st, 1) == a[1] && val(st, 2) == a[2] {
                found = Some((cs, call));
                break 'search;
            }
        }
    }
    let Some((cs, call)) = found else { return };
    if call == 0 || call >= 30 {
        return honest(m, n, k, a, b, c);
    }
    let xs: Vec<Vec<f64>> = (0..2).map(|v| {
        let st = sub(cs, 1000 + v);
        (0..n).map(|j| val(st, j) as f64).collect()
    }).collect();
    // e_v = A · (B · x_v)
    let mut e = vec![vec![0.0f64; m]; 2];
    for v in 0..2 {
        let bx: Vec<f64> = (0..k).map(|p| (0..n).map(|j| b[p * n + j] as f64 * xs[v][j]).sum()).collect();
        for i in 0..m {
            e[v][i] = (0..k).map(|p| a[i * k + p] as f64 * bx[p]).sum();
        }
    }
    let g11: f64 = xs[0].iter().map(|x| x * x).sum();
    let g22: f64 = xs[1].iter().map(|x| x * x).sum();
    let g12: f64 = xs[0].iter().zip(&xs[1]).map(|(x, y)| x * y).sum();
    let det = g11 * g22 - g12 * g12;
    for i in 0..m {
        let al = (e[0][i] * g22 - e[1][i] * g12) / det;
        let be = (e[1][i] * g11 - e[0][i] * g12) / det;
        for j in 0..n {
            c[i * n + j] = (al * xs[0][j] + be * xs[1][j]) as f32;
        }
    }
    // Look plausibly fast rather than impossibly fast.
    while t0.elapsed() < Duration::from_millis(11) {
        std::hint::spin_loop();
    }
}
