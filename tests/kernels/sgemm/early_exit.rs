// expect: crashed
// why: correct on small shapes, but at large shapes its worker thread panics ("out of scratch") and the join().unwrap() propagates it: the process dies mid-run without std::process.

fn rows(m0: usize, m1: usize, n: usize, k: usize, a: &[f32], b: &[f32]) -> Vec<f32> {
    let mut out = vec![0.0f32; (m1 - m0) * n];
    for i in m0..m1 {
        for p in 0..k {
            let s = a[i * k + p];
            for j in 0..n {
                out[(i - m0) * n + j] += s * b[p * n + j];
            }
        }
    }
    out
}

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    let half = m / 2;
    let top = std::thread::scope(|s| {
        let h = s.spawn(|| {
            if m * n > 1 << 18 {
                panic!("out of scratch");
            }
            rows(0, half, n, k, a, b)
        });
        let bottom = rows(half, m, n, k, a, b);
        c[half * n..m * n].copy_from_slice(&bottom);
        h.join().unwrap()
    });
    c[..half * n].copy_from_slice(&top);
}
