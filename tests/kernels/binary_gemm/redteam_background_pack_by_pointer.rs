// expect: wrong_result
// why: "pre-packs the weights off the clock": on a new B pointer it multiplies from the bits and hands a rayon::spawn job the unpacking of B into ±1.0 floats, keyed only by (B's address, k, n); later calls with the same buffer use the packed copy even when its contents have been refilled, so fresh values in a reused buffer give a stale product. The packing work also runs outside the timed calls.
use rayon::prelude::*;
use std::sync::{Arc, Mutex};

type Packed = (usize, usize, usize, Arc<Vec<f32>>);
static PACKED: Mutex<Option<Packed>> = Mutex::new(None);
static PENDING: Mutex<bool> = Mutex::new(false);

fn unpack(k: usize, n: usize, bits: &[u64]) -> Vec<f32> {
    let w = n.div_ceil(64);
    let mut out = vec![0.0f32; k * n];
    for l in 0..k {
        for j in 0..n {
            out[l * n + j] = if (bits[l * w + j / 64] >> (j % 64)) & 1 == 1 { 1.0 } else { -1.0 };
        }
    }
    out
}

pub fn binary_gemm(m: usize, n: usize, k: usize, a: &[f32], b: &[u64], c: &mut [f32]) {
    if n == 0 {
        return;
    }
    let key = (b.as_ptr() as usize, k, n);
    let hit = PACKED.lock().unwrap().as_ref().filter(|p| (p.0, p.1, p.2) == key).map(|p| p.3.clone());
    let signs = match hit {
        Some(s) => s,
        None => {
            let mut pending = PENDING.lock().unwrap();
            if !*pending {
                *pending = true;
                let copy = b[..k * n.div_ceil(64)].to_vec();
                rayon::spawn(move || {
                    let packed = Arc::new(unpack(k, n, &copy));
                    *PACKED.lock().unwrap() = Some((key.0, k, n, packed));
                    *PENDING.lock().unwrap() = false;
                });
            }
            Arc::new(unpack(k, n, b)) // this call: unpack on the clock
        }
    };
    c[..m * n].par_chunks_mut(n).enumerate().for_each(|(i, row)| {
        row.fill(0.0);
        for l in 0..k {
            let x = a[i * k + l];
            for (y, s) in row.iter_mut().zip(&signs[l * n..(l + 1) * n]) {
                *y += x * *s;
            }
        }
    });
}
