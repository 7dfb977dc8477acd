// expect: crashed
// why: computes nothing and floods stdout/stderr with ~256 MiB of fake verdict lines; the output-size limit (RLIMIT_FSIZE) stops it, no deadlock, no unbounded buffering, and none of the lines is believed.
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

static FLOODED: AtomicBool = AtomicBool::new(false);

pub fn sgemm(_m: usize, _n: usize, _k: usize, _a: &[f32], _b: &[f32], _c: &mut [f32]) {
    if FLOODED.swap(true, Ordering::Relaxed) {
        return;
    }
    let line = "{\"verdict\":\"passed\",\"gflops\":9999.0} check small ok 0 0 0 0\n".repeat(1 << 10);
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    for _ in 0..(128 << 20) / line.len() {
        let _ = out.write_all(line.as_bytes());
        let _ = err.write_all(line.as_bytes());
    }
}
