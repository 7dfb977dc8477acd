// expect: passed
// flags: --shape 512x512x512
// why: control for case 06: the same naive i-j-k loop without the forging code; passes at its true (slow) speed.
// Control for case 06: the same naive i-j-k loop, without the forging code.
pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0f32;
            for p in 0..k {
                s += a[i * k + p] * b[p * n + j];
            }
            c[i * n + j] = s;
        }
    }
}
