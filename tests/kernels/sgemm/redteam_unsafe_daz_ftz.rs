// expect: wrong_result
// flags: --allow-unsafe
// why: (allowed to use the keyword by the flag) sets the MXCSR flush-to-zero and denormals-are-zero bits on the calling thread and never restores them, then multiplies with a plain i-k-j loop: subnormal inputs count as zero (e.g. A ~ 1e-39 with B ~ 1 gives C = 0 instead of ~1e-39·√K), and the mode leaks into whatever else runs on that thread afterwards, including any in-process check.
#[allow(deprecated)]
fn flush_denormals() {
    #[cfg(target_arch = "x86_64")]
    unsafe {
        use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
        _mm_setcsr(_mm_getcsr() | (1 << 15) | (1 << 6));
    }
}

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    flush_denormals();
    for i in 0..m {
        let row = &mut c[i * n..(i + 1) * n];
        row.fill(0.0);
        for p in 0..k {
            let s = a[i * k + p];
            for (y, v) in row.iter_mut().zip(&b[p * n..(p + 1) * n]) {
                *y += s * *v;
            }
        }
    }
}
