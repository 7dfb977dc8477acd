// expect: rejected
// why: macro_rules! assembles std::$x::write and is invoked with fs, so "std::fs" never appears literally; the bare identifier fs must still be caught.

macro_rules! stash {
    ($x:ident, $path:expr, $data:expr) => {
        let _ = std::$x::write($path, $data);
    };
}

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
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
    stash!(fs, "/tmp/stash.bin", format!("{}", c[0]));
}
