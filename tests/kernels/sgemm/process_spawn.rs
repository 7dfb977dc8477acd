// expect: rejected
// why: shells out with std::process::Command (to "calibrate" via an external tool); any use of std::process is banned by the static gate.

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    let _ = std::process::Command::new("sh").arg("-c").arg("echo calibrating").output();
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
