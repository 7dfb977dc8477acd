// expect: passed
// why: cache-blocked i-k-j with tile sizes (MC=37, KC=211, NC=300) that divide none of the test shapes; remainders handled with min(); correct everywhere.

const MC: usize = 37;
const KC: usize = 211;
const NC: usize = 300;

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    for v in c[..m * n].iter_mut() {
        *v = 0.0;
    }
    let mut j0 = 0;
    while j0 < n {
        let j1 = (j0 + NC).min(n);
        let mut p0 = 0;
        while p0 < k {
            let p1 = (p0 + KC).min(k);
            let mut i0 = 0;
            while i0 < m {
                let i1 = (i0 + MC).min(m);
                block(i0, i1, j0, j1, p0, p1, n, k, a, b, c);
                i0 = i1;
            }
            p0 = p1;
        }
        j0 = j1;
    }
}

#[allow(clippy::too_many_arguments)]
fn block(i0: usize, i1: usize, j0: usize, j1: usize, p0: usize, p1: usize, n: usize, k: usize,
         a: &[f32], b: &[f32], c: &mut [f32]) {
    for i in i0..i1 {
        let crow = &mut c[i * n + j0..i * n + j1];
        for p in p0..p1 {
            let s = a[i * k + p];
            let brow = &b[p * n + j0..p * n + j1];
            for (x, y) in crow.iter_mut().zip(brow) {
                *x += s * *y;
            }
        }
    }
}
