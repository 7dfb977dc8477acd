//! OpenBLAS through FFI: the speed anchor. Trusted code only; candidates never see it.

use std::os::raw::c_int;

const ROW_MAJOR: c_int = 101;
const NO_TRANS: c_int = 111;
const TRANS: c_int = 112;

#[link(name = "openblas")]
unsafe extern "C" {
    fn cblas_sgemm(layout: c_int, transa: c_int, transb: c_int, m: c_int, n: c_int, k: c_int,
                   alpha: f32, a: *const f32, lda: c_int, b: *const f32, ldb: c_int,
                   beta: f32, c: *mut f32, ldc: c_int);
}

/// C (m×n) = alpha·op(A)·op(B) + beta·C, row-major; checks every slice bound first.
#[allow(clippy::too_many_arguments)]
fn gemm(ta: bool, tb: bool, m: usize, n: usize, k: usize, alpha: f32, a: &[f32], lda: usize,
        b: &[f32], ldb: usize, beta: f32, c: &mut [f32], ldc: usize) {
    let (a_rows, b_rows) = (if ta { k } else { m }, if tb { n } else { k });
    assert!(a_rows == 0 || a.len() >= (a_rows - 1) * lda + if ta { m } else { k });
    assert!(b_rows == 0 || b.len() >= (b_rows - 1) * ldb + if tb { k } else { n });
    assert!(m == 0 || c.len() >= (m - 1) * ldc + n);
    let t = |x: bool| if x { TRANS } else { NO_TRANS };
    // SAFETY: the asserts above keep every access OpenBLAS makes inside the slices.
    unsafe {
        cblas_sgemm(ROW_MAJOR, t(ta), t(tb), m as c_int, n as c_int, k as c_int, alpha,
                    a.as_ptr(), lda as c_int, b.as_ptr(), ldb as c_int, beta, c.as_mut_ptr(),
                    ldc as c_int);
    }
}

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    gemm(false, false, m, n, k, 1.0, a, k.max(1), b, n.max(1), 0.0, c, n.max(1));
}

#[allow(clippy::too_many_arguments)]
pub fn matmul_forward(out: &mut [f32], inp: &[f32], weight: &[f32], bias: Option<&[f32]>,
                      b: usize, t: usize, c: usize, oc: usize) {
    let bt = b * t;
    match bias {
        Some(bias) => out[..bt * oc].chunks_exact_mut(oc).for_each(|row| row.copy_from_slice(&bias[..oc])),
        None => out[..bt * oc].fill(0.0),
    }
    gemm(false, true, bt, oc, c, 1.0, inp, c, weight, c, 1.0, out, oc);
}

#[allow(clippy::too_many_arguments)]
pub fn matmul_backward(dinp: &mut [f32], dweight: &mut [f32], dbias: Option<&mut [f32]>,
                       dout: &[f32], inp: &[f32], weight: &[f32],
                       b: usize, t: usize, c: usize, oc: usize) {
    let bt = b * t;
    gemm(false, false, bt, c, oc, 1.0, dout, oc, weight, c, 1.0, dinp, c);
    gemm(true, false, oc, c, bt, 1.0, dout, oc, inp, c, 1.0, dweight, c);
    if let Some(dbias) = dbias {
        for row in dout[..bt * oc].chunks_exact(oc) {
            for (d, x) in dbias.iter_mut().zip(row) {
                *d += x;
            }
        }
    }
}

/// sgemm on B already unpacked to ±1.0 f32 (the unpacking is not timed).
pub fn sgemm_unpacked(m: usize, n: usize, k: usize, a: &[f32], b_pm1: &[f32], c: &mut [f32]) {
    sgemm(m, n, k, a, b_pm1, c);
}
