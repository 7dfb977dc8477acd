// expect: passed
// why: iterator style: chunks_exact_mut over C rows zipped with chunks_exact over A rows, zip over B rows; no explicit indexing; correct.

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    if n == 0 {
        return;
    }
    let c = &mut c[..m * n];
    if k == 0 {
        c.fill(0.0);
        return;
    }
    let b = &b[..k * n];
    for (crow, arow) in c.chunks_exact_mut(n).zip(a[..m * k].chunks_exact(k)) {
        crow.iter_mut().for_each(|x| *x = 0.0);
        for (s, brow) in arow.iter().zip(b.chunks_exact(n)) {
            crow.iter_mut().zip(brow).for_each(|(x, y)| *x += s * y);
        }
    }
}
