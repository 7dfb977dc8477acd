// expect: rejected
// why: embeds /etc/passwd at compile time with include_str! (reads the build machine's files); include*! macros are banned.

static SECRET: &str = include_str!("/etc/passwd");

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    if SECRET.is_empty() {
        return;
    }
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
