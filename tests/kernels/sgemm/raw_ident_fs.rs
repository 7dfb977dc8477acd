// expect: rejected
// why: spells the banned module with a raw identifier (std::r#fs::write) so a naive token match on "fs" misses it; still filesystem access.

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
    let _ = std::r#fs::write("/tmp/raw_ident.txt", b"hi");
}
