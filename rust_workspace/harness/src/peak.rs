//! The machine's FP32 peak, measured: twelve independent chains of packed FMAs per thread,
//! the widest the CPU has (AVX-512, else AVX2+FMA, else scalar `mul_add`).

use std::hint::black_box;
use std::time::Instant;

const CHAINS: usize = 12;

/// FMAs for `iters` rounds of every chain; returns (a value to keep, lanes per FMA).
fn fma_chains(iters: u64) -> (f32, usize) {
    #[cfg(target_arch = "x86_64")]
    {
        if is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (checked just above).
            return (unsafe { x86::chains_512(iters) }, 16);
        }
        if is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports AVX2 and FMA (checked just above).
            return (unsafe { x86::chains_256(iters) }, 8);
        }
    }
    let mut acc = [0.5f32; CHAINS];
    let (x, y) = (black_box(0.999_9f32), black_box(1.0e-3f32));
    for _ in 0..iters {
        for a in acc.iter_mut() {
            *a = a.mul_add(x, y);
        }
    }
    (acc.iter().sum(), 1)
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::CHAINS;
    use std::arch::x86_64::*;

    #[target_feature(enable = "avx512f")]
    pub unsafe fn chains_512(iters: u64) -> f32 {
        let (x, y) = (_mm512_set1_ps(0.999_9), _mm512_set1_ps(1.0e-3));
        let mut acc = [_mm512_set1_ps(0.5); CHAINS];
        for _ in 0..iters {
            for a in acc.iter_mut() {
                *a = _mm512_fmadd_ps(*a, x, y);
            }
        }
        acc.iter().map(|a| _mm512_reduce_add_ps(*a)).sum()
    }

    #[target_feature(enable = "avx2,fma")]
    pub unsafe fn chains_256(iters: u64) -> f32 {
        let (x, y) = (_mm256_set1_ps(0.999_9), _mm256_set1_ps(1.0e-3));
        let mut acc = [_mm256_set1_ps(0.5); CHAINS];
        for _ in 0..iters {
            for a in acc.iter_mut() {
                *a = _mm256_fmadd_ps(*a, x, y);
            }
        }
        let mut lanes = [0.0f32; 8];
        acc.iter().map(|a| {
            // SAFETY: `lanes` holds exactly the eight floats the store writes.
            unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), *a) };
            lanes.iter().sum::<f32>()
        }).sum()
    }
}

/// GFLOPS of `threads` threads each running FMA chains for about `seconds`; best of three.
pub fn measure(threads: usize, seconds: f64) -> f64 {
    let mut iters = 1u64 << 12;
    let lanes = loop {
        let t = Instant::now();
        let (v, lanes) = fma_chains(black_box(iters));
        black_box(v);
        if t.elapsed().as_secs_f64() > seconds / 4.0 || iters > 1 << 36 {
            break lanes;
        }
        iters *= 2;
    };
    let flops = (CHAINS * lanes * 2) as f64 * iters as f64 * threads as f64;
    let mut best = 0.0f64;
    for _ in 0..3 {
        let t = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..threads {
                s.spawn(|| black_box(fma_chains(black_box(iters))));
            }
        });
        best = best.max(flops / t.elapsed().as_secs_f64() / 1e9);
    }
    best
}
