//! Trusted reference implementations the harness times beside every candidate:
//! `naive` (the search's starting point), `par` (rayon) and `blas` (OpenBLAS, the anchor).

pub mod naive {
    mod sgemm;
    mod matmul_forward;
    mod matmul_backward;
    mod binary_gemm;
    pub use binary_gemm::binary_gemm;
    pub use matmul_backward::matmul_backward;
    pub use matmul_forward::matmul_forward;
    pub use sgemm::sgemm;
}

pub mod par;

#[cfg(feature = "openblas")]
pub mod blas;

/// Whether this build links OpenBLAS.
pub const HAVE_OPENBLAS: bool = cfg!(feature = "openblas");
