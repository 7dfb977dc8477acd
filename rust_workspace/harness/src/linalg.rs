//! What every output must equal, and how far it may be from it.
//!
//! Every problem's outputs are products `O = init + P·Q` (P: rows×K, Q: K×cols) read
//! through views of the instance's buffers. The error bound of an element is
//!
//!   u · λ(K) · (|init_ij| + ‖P_i‖·‖Q_j‖ + ρ),   λ(K) = 4·√K + 16,  ρ = rms‖P_i‖ · rms‖Q_j‖
//!
//! with u = 2⁻²⁴. ‖P_i‖·‖Q_j‖ ≥ Σ|p·q| (Cauchy–Schwarz), so any summation order, FMA or
//! wider accumulation stays far inside; ρ is the norm-wise term that one level of a
//! Strassen-like recombination needs. A bf16-like precision drop (u ≈ 2⁻⁹) does not fit.

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

/// The worst element of a comparison, for the report.
#[derive(Default, Clone, Copy)]
pub struct Worst {
    pub abs_err: f64,
    pub bound: f64,
    /// largest err/bound seen; > 1 means wrong
    pub ratio: f64,
}

impl Worst {
    pub fn merge(&mut self, other: Worst) {
        if other.ratio > self.ratio || other.abs_err.is_nan() {
            self.ratio = other.ratio;
            self.bound = other.bound;
        }
        if other.abs_err > self.abs_err || other.abs_err.is_nan() {
            self.abs_err = other.abs_err;
        }
    }
}

pub struct Failure(pub String);

fn norms(pr: &Product) -> (Vec<f64>, Vec<f64>, f64) {
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
    (pn, qn, rho)
}

/// Compares every element with an f64 reference computed here.
pub fn full_check(pr: &Product) -> Result<Worst, Failure> {
    let (rows, cols, k) = (pr.rows, pr.cols, pr.k);
    let qd: Vec<f64> = (0..k * cols).map(|x| pr.q.get(x / cols.max(1), x % cols.max(1))).collect();
    let (pn, qn, rho) = norms(pr);
    let scale = UNIT_ROUNDOFF * lambda(k);
    let mut worst = Worst::default();
    let mut reference = vec![0.0f64; cols];
    for i in 0..rows {
        for (j, r) in reference.iter_mut().enumerate() {
            *r = pr.init.get(i, j, cols);
        }
        for l in 0..k {
            let p = pr.p.get(i, l);
            for (r, q) in reference.iter_mut().zip(&qd[l * cols..(l + 1) * cols]) {
                *r += p * q;
            }
        }
        for j in 0..cols {
            let got = pr.out[i * cols + j] as f64;
            let bound = scale * (pr.init.get(i, j, cols).abs() + pn[i] * qn[j] + rho);
            let err = (got - reference[j]).abs();
            if !got.is_finite() || err > bound {
                return Err(Failure(format!(
                    "{}[{i},{j}] = {} but should be {:.7e} (error {:.3e} > bound {:.3e}); \
                     shape {rows}x{cols}, K={k}",
                    pr.name, pr.out[i * cols + j], reference[j], err, bound)));
            }
            let ratio = if bound > 0.0 { err / bound } else { 0.0 };
            worst.merge(Worst { abs_err: err, bound, ratio });
        }
    }
    Ok(worst)
}

/// Freivalds-style check: `out·x` against `init·x + P·(Q·x)` for `xs.len()` random vectors,
/// row by row within the summed element bounds, and every element finite. O(size), not O(n³).
pub fn freivalds_check(pr: &Product, xs: &[Vec<f64>]) -> Result<(), Failure> {
    let (rows, cols, k) = (pr.rows, pr.cols, pr.k);
    for i in 0..rows {
        if let Some(j) = pr.out[i * cols..(i + 1) * cols].iter().position(|v| !v.is_finite()) {
            return Err(Failure(format!(
                "{}[{i},{j}] = {} (never written, or not a number); shape {rows}x{cols}, K={k}",
                pr.name, pr.out[i * cols + j])));
        }
    }
    let (pn, qn, rho) = norms(pr);
    let scale = UNIT_ROUNDOFF * lambda(k);
    for (v, x) in xs.iter().enumerate() {
        let mut qx = vec![0.0f64; k];
        for (l, s) in qx.iter_mut().enumerate() {
            *s = (0..cols).map(|j| pr.q.get(l, j) * x[j]).sum();
        }
        let x_abs: f64 = x.iter().map(|v| v.abs()).sum();
        let qn_x: f64 = qn.iter().zip(x).map(|(q, v)| q * v.abs()).sum();
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
            let tol = scale * (init_x + pn[i] * qn_x + rho * x_abs) + 1e-12 * (1.0 + expected.abs());
            if (got - expected).abs() > tol {
                return Err(Failure(format!(
                    "row {i} of {} is wrong (randomised check {v}: {:.6e} vs {:.6e}, tolerance \
                     {:.3e}); shape {rows}x{cols}, K={k}", pr.name, got, expected, tol)));
            }
        }
    }
    Ok(())
}
