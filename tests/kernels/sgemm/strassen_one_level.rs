// expect: wrong_result
// why: one level of Strassen (7 half-size products, each an i-k-j loop parallel over rows) on zero-padded even halves; small shapes use a plain loop. Written as a kernel, not proposed as a formulation the Verifier proves, so it is held to the classical bound (KERNELS.md): each element's error follows its own row and column, and Strassen's follows other rows' (a quiet or zero row of A next to loud ones comes out wrong). roundtable's own sgemm/strassen kernels get a scheme's bound only from the trusted side.
use rayon::prelude::*;

/// Dense row-major matrix owned by this kernel.
struct Mat {
    r: usize,
    c: usize,
    d: Vec<f32>,
}

impl Mat {
    /// Quadrant (qi, qj) of size r x c taken from a rows x cols row-major source, zero-padded.
    fn quadrant(src: &[f32], rows: usize, cols: usize, qi: usize, qj: usize, r: usize, c: usize) -> Mat {
        let mut d = vec![0.0f32; r * c];
        for i in 0..r {
            let si = qi * r + i;
            if si >= rows {
                break;
            }
            let j_start = qj * c;
            if j_start >= cols {
                break;
            }
            let w = c.min(cols - j_start);
            d[i * c..i * c + w].copy_from_slice(&src[si * cols + j_start..si * cols + j_start + w]);
        }
        Mat { r, c, d }
    }
    fn add(&self, o: &Mat) -> Mat {
        Mat { r: self.r, c: self.c, d: self.d.iter().zip(&o.d).map(|(x, y)| x + y).collect() }
    }
    fn sub(&self, o: &Mat) -> Mat {
        Mat { r: self.r, c: self.c, d: self.d.iter().zip(&o.d).map(|(x, y)| x - y).collect() }
    }
    fn mul(&self, o: &Mat) -> Mat {
        let mut out = Mat { r: self.r, c: o.c, d: vec![0.0f32; self.r * o.c] };
        plain(self.r, o.c, self.c, &self.d, &o.d, &mut out.d);
        out
    }
}

/// Plain i-k-j product, rayon over rows; overwrites c[..m*n].
fn plain(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    if n == 0 {
        return;
    }
    c[..m * n].par_chunks_mut(n).enumerate().for_each(|(i, row)| {
        row.fill(0.0);
        for p in 0..k {
            let s = a[i * k + p];
            for (x, y) in row.iter_mut().zip(&b[p * n..p * n + n]) {
                *x += s * *y;
            }
        }
    });
}

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    if m < 64 || n < 64 || k < 64 {
        plain(m, n, k, a, b, c);
        return;
    }
    let (hm, hn, hk) = (m.div_ceil(2), n.div_ceil(2), k.div_ceil(2));
    let qa = |i, j| Mat::quadrant(a, m, k, i, j, hm, hk);
    let qb = |i, j| Mat::quadrant(b, k, n, i, j, hk, hn);
    let (a11, a12, a21, a22) = (qa(0, 0), qa(0, 1), qa(1, 0), qa(1, 1));
    let (b11, b12, b21, b22) = (qb(0, 0), qb(0, 1), qb(1, 0), qb(1, 1));
    let m1 = a11.add(&a22).mul(&b11.add(&b22));
    let m2 = a21.add(&a22).mul(&b11);
    let m3 = a11.mul(&b12.sub(&b22));
    let m4 = a22.mul(&b21.sub(&b11));
    let m5 = a11.add(&a12).mul(&b22);
    let m6 = a21.sub(&a11).mul(&b11.add(&b12));
    let m7 = a12.sub(&a22).mul(&b21.add(&b22));
    let c11 = m1.add(&m4).sub(&m5).add(&m7);
    let c12 = m3.add(&m5);
    let c21 = m2.add(&m4);
    let c22 = m1.sub(&m2).add(&m3).add(&m6);
    // Write the quadrants back, dropping the padding.
    for (q, qi, qj) in [(&c11, 0, 0), (&c12, 0, 1), (&c21, 1, 0), (&c22, 1, 1)] {
        for i in 0..hm {
            let ci = qi * hm + i;
            if ci >= m {
                break;
            }
            let j0 = qj * hn;
            let w = hn.min(n - j0);
            c[ci * n + j0..ci * n + j0 + w].copy_from_slice(&q.d[i * hn..i * hn + w]);
        }
    }
}
