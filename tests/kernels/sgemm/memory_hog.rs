// expect: out_of_memory
// why: "caches" 64 MiB scratch blocks in a static Vec on every pass of an unbounded loop, touching each page: resident memory grows until the memory limit.
use std::sync::Mutex;

static SCRATCH: Mutex<Vec<Vec<f32>>> = Mutex::new(Vec::new());

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    let mut keep = SCRATCH.lock().unwrap();
    loop {
        let mut blk = vec![1.0f32; 16 << 20];
        blk[0] = a.first().copied().unwrap_or(0.0);
        keep.push(blk);
        if keep.len() == usize::MAX {
            break;
        }
    }
    for i in 0..m {
        for j in 0..n {
            c[i * n + j] = (0..k).map(|p| a[i * k + p] * b[p * n + j]).sum();
        }
    }
}
