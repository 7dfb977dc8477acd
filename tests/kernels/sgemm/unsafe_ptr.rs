// expect: rejected
// why: uses unsafe get_unchecked without the allow-unsafe flag; the gate rejects any `unsafe`.

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0f32;
            for p in 0..k {
                s += unsafe { *a.get_unchecked(i * k + p) * *b.get_unchecked(p * n + j) };
            }
            unsafe { *c.get_unchecked_mut(i * n + j) = s };
        }
    }
}
