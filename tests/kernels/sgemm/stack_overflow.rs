// expect: crashed
// why: "recursive" row splitter whose base case can never be reached (split at mid = lo, hi unchanged), each frame holding a 256-float array: unbounded recursion overflows the stack.

fn split(lo: usize, hi: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) -> f32 {
    if hi <= lo {
        return 0.0;
    }
    let mut frame = [0.0f32; 256];
    frame[lo % 256] = a[(lo * k) % a.len().max(1)];
    let frame = std::hint::black_box(frame);
    let mid = lo; // bug: should be (lo + hi) / 2 with a leaf case
    let s = split(mid, hi, n, k, a, b, c);
    s + frame[(hi + lo) % 256]
}

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    let s = split(0, m, n, k, a, b, c);
    for v in c[..m * n].iter_mut() {
        *v = s;
    }
}
