//! What every output must equal, and how far it may be from it.
//!
//! Every problem's outputs are products `O = init + P·Q` (P: rows×K, Q: K×cols) read
//! through views of the instance's buffers. The error bound of an element is
//!
//!   u · λ(K) · (|init_ij| + ‖P_i‖·‖Q_j‖ + ρ),   λ(K) = 4·√K + 16,  ρ = rms‖P_i‖ · rms‖Q_j‖
//!
//! with u = 2⁻²⁴. ‖P_i‖·‖Q_j‖ ≥ Σ|p·q| (Cauchy–Schwarz), so any summation order, FMA or
//! wider accumulation stays far inside; ρ is the norm-wise term that one level of a
//! Strassen-like recombination needs. A bf16-like precision drop (u = 2⁻⁸) does not fit.

pub const UNIT_ROUNDOFF: f64 = 1.0 / 16_777_216.0;

pub fn lambda(k: usize) -> f64 {
    4.0 * (k as f64).sqrt() + 16.0
}

#[derive(Clone, Copy)]
pub enum View<'a> {
    /// element (i, j) is `data[i·rs + j·cs]`
    Dense { data: &'a [f32], rs: usize, cs: usize },
    /// ±1 entries packed as bits, `w` words per row (binary_gemm's B)
    Bits { words: &'a [u64], w: usize },
    /// all ones (the column sums of dbias)
    Ones,
}

impl View<'_> {
    #[inline]
    pub fn get(&self, i: usize, j: usize) -> f64 {
        match *self {
            View::Dense { data, rs, cs } => data[i * rs + j * cs] as f64,
            View::Bits { words, w } => {
                if (words[i * w + j / 64] >> (j % 64)) & 1 == 1 { 1.0 } else { -1.0 }
            }
            View::Ones => 1.0,
        }
    }
}

#[derive(Clone, Copy)]
pub enum Init<'a> {
    /// overwritten: the kernel's output must not depend on what was there
    Zero,
    /// element (i, j) starts at `bias[j]`
    RowBias(&'a [f32]),
    /// accumulated into: element (i, j) starts at `prior[i·cols + j]`
    Prior(&'a [f32]),
}

impl Init<'_> {
    #[inline]
    pub fn get(&self, i: usize, j: usize, cols: usize) -> f64 {
        match *self {
            Init::Zero => 0.0,
            Init::RowBias(b) => b[j] as f64,
            Init::Prior(p) => p[i * cols + j] as f64,
        }
    }
}

pub struct Product<'a> {
    pub name: &'static str,
    pub out: &'a [f32],
    pub rows: usize,
    pub cols: usize,
    pub k: usize,
    pub init: Init<'a>,
    pub p: View<'a>,
    pub q: View<'a>,
}

pub struct Failure(pub String);

/// Row norms of P, column norms of Q and the norm-wise term ρ of a product.
pub struct Norms {
    pn: Vec<f64>,
    qn: Vec<f64>,
    rho: f64,
    scale: f64,
}

impl Norms {
    pub fn of(pr: &Product) -> Norms {
        let mut pn = vec![0.0f64; pr.rows];
        let mut qn = vec![0.0f64; pr.cols];
        for (i, n) in pn.iter_mut().enumerate() {
            *n = (0..pr.k).map(|l| pr.p.get(i, l).powi(2)).sum::<f64>().sqrt();
        }
        for l in 0..pr.k {
            for (j, n) in qn.iter_mut().enumerate() {
                *n += pr.q.get(l, j).powi(2);
            }
        }
        qn.iter_mut().for_each(|n| *n = n.sqrt());
        let rms = |v: &[f64]| (v.iter().map(|x| x * x).sum::<f64>() / v.len().max(1) as f64).sqrt();
        let rho = rms(&pn) * rms(&qn);
        Norms { pn, qn, rho, scale: UNIT_ROUNDOFF * lambda(pr.k) }
    }

    fn bound(&self, init: f64, i: usize, j: usize) -> f64 {
        self.scale * (init.abs() + self.pn[i] * self.qn[j] + self.rho)
    }
}

/// Compares element (i, j) with its reference value.
fn compare(pr: &Product, norms: &Norms, i: usize, j: usize, reference: f64) -> Result<(), Failure> {
    let got = pr.out[i * pr.cols + j] as f64;
    let bound = norms.bound(pr.init.get(i, j, pr.cols), i, j);
    let err = (got - reference).abs();
    if !got.is_finite() || err > bound {
        return Err(Failure(format!(
            "{}[{i},{j}] = {} but should be {:.7e} (error {:.3e} > bound {:.3e}); shape {}x{}, K={}",
            pr.name, pr.out[i * pr.cols + j], reference, err, bound, pr.rows, pr.cols, pr.k)));
    }
    Ok(())
}

/// Compares every element of the given rows and columns with an f64 reference: O(k·n) per
/// line, so a few random lines of a large call are affordable.
pub fn lines_check(pr: &Product, norms: &Norms, rows: &[usize], cols: &[usize]) -> Result<(), Failure> {
    let (n_cols, k) = (pr.cols, pr.k);
    let mut reference = vec![0.0f64; n_cols];
    for &i in rows {
        for (j, r) in reference.iter_mut().enumerate() {
            *r = pr.init.get(i, j, n_cols);
        }
        for l in 0..k {
            let p = pr.p.get(i, l);
            for (j, r) in reference.iter_mut().enumerate() {
                *r += p * pr.q.get(l, j);
            }
        }
        for (j, r) in reference.iter().enumerate() {
            compare(pr, norms, i, j, *r)?;
        }
    }
    for &j in cols {
        let q: Vec<f64> = (0..k).map(|l| pr.q.get(l, j)).collect();
        for i in 0..pr.rows {
            let r = pr.init.get(i, j, n_cols) + (0..k).map(|l| pr.p.get(i, l) * q[l]).sum::<f64>();
            compare(pr, norms, i, j, r)?;
        }
    }
    Ok(())
}

/// Freivalds-style check: `out·x` against `init·x + P·(Q·x)` for each random vector, row by
/// row within the summed element bounds, and every element finite. O(size), not O(n³).
/// The vectors must be drawn after the call from a secret the kernel cannot know.
pub fn freivalds_check(pr: &Product, norms: &Norms, xs: &[Vec<f64>]) -> Result<(), Failure> {
    let (rows, cols, k) = (pr.rows, pr.cols, pr.k);
    for i in 0..rows {
        if let Some(j) = pr.out[i * cols..(i + 1) * cols].iter().position(|v| !v.is_finite()) {
            return Err(Failure(format!(
                "{}[{i},{j}] = {} (never written, or not a number); shape {rows}x{cols}, K={k}",
                pr.name, pr.out[i * cols + j])));
        }
    }
    for (v, x) in xs.iter().enumerate() {
        let mut qx = vec![0.0f64; k];
        for (l, s) in qx.iter_mut().enumerate() {
            *s = (0..cols).map(|j| pr.q.get(l, j) * x[j]).sum();
        }
        let x_abs: f64 = x.iter().map(|v| v.abs()).sum();
        let qn_x: f64 = norms.qn.iter().zip(x).map(|(q, v)| q * v.abs()).sum();
        for i in 0..rows {
            let mut expected = 0.0f64;
            let mut init_x = 0.0f64;
            for (j, xj) in x.iter().enumerate() {
                let init = pr.init.get(i, j, cols);
                expected += init * xj;
                init_x += init.abs() * xj.abs();
            }
            expected += (0..k).map(|l| pr.p.get(i, l) * qx[l]).sum::<f64>();
            let got: f64 = pr.out[i * cols..(i + 1) * cols].iter().zip(x)
                .map(|(o, xj)| *o as f64 * xj).sum();
            let tol = norms.scale * (init_x + norms.pn[i] * qn_x + norms.rho * x_abs)
                + 1e-12 * (1.0 + expected.abs());
            if (got - expected).abs() > tol {
                return Err(Failure(format!(
                    "row {i} of {} is wrong (randomised check {v}: {:.6e} vs {:.6e}, tolerance \
                     {:.3e}); shape {rows}x{cols}, K={k}", pr.name, got, expected, tol)));
            }
        }
    }
    Ok(())
}
