//! The four problems as the harness sees them: buffers, the call, and the products
//! every output must equal. Shapes and FLOP counts live in the Python catalogue.

use crate::Entry;
use crate::linalg::{Init, Product, View};
use crate::rng;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Problem {
    Sgemm,
    MatmulForward,
    MatmulBackward,
    BinaryGemm,
}

impl Problem {
    pub fn of(entry: &Entry) -> Problem {
        match entry {
            Entry::Sgemm(_) => Problem::Sgemm,
            Entry::MatmulForward(_) => Problem::MatmulForward,
            Entry::MatmulBackward(_) => Problem::MatmulBackward,
            Entry::BinaryGemm(_) => Problem::BinaryGemm,
        }
    }
}

/// Stream numbers of an instance's buffers.
pub const STREAM_INPUT: u64 = 0;
pub const STREAM_BITS: u64 = 10;
pub const STREAM_PRIOR: u64 = 20;

struct Slot {
    len: usize,
    /// present only when the instance has a bias (bias / dbias)
    optional: bool,
    /// accumulated into (starts random) rather than overwritten (starts as NaN)
    accumulate: bool,
}

struct Layout {
    inputs: Vec<Slot>,
    outputs: Vec<Slot>,
    bits: Option<usize>,
}

fn slot(len: usize) -> Slot {
    Slot { len, optional: false, accumulate: false }
}

fn layout(problem: Problem, d: &[usize]) -> Layout {
    match problem {
        Problem::Sgemm => {
            let (m, n, k) = (d[0], d[1], d[2]);
            Layout { inputs: vec![slot(m * k), slot(k * n)], outputs: vec![slot(m * n)], bits: None }
        }
        Problem::MatmulForward => {
            let (bt, c, oc) = (d[0] * d[1], d[2], d[3]);
            Layout {
                inputs: vec![slot(bt * c), slot(oc * c), Slot { optional: true, ..slot(oc) }],
                outputs: vec![slot(bt * oc)],
                bits: None,
            }
        }
        Problem::MatmulBackward => {
            let (bt, c, oc) = (d[0] * d[1], d[2], d[3]);
            let acc = |len| Slot { len, optional: false, accumulate: true };
            Layout {
                inputs: vec![slot(bt * oc), slot(bt * c), slot(oc * c)],
                outputs: vec![acc(bt * c), acc(oc * c), Slot { optional: true, ..acc(oc) }],
                bits: None,
            }
        }
        Problem::BinaryGemm => {
            let (m, n, k) = (d[0], d[1], d[2]);
            Layout { inputs: vec![slot(m * k)], outputs: vec![slot(m * n)], bits: Some(k * n.div_ceil(64)) }
        }
    }
}

/// One set of arguments for one call: fresh values from a seed, outputs poisoned.
#[derive(Clone)]
pub struct Instance {
    pub problem: Problem,
    pub dims: Vec<usize>,
    pub has_bias: bool,
    pub inputs: Vec<Vec<f32>>,
    pub bits: Vec<u64>,
    pub outputs: Vec<Vec<f32>>,
    /// what each output held before the call (random for accumulated ones)
    pub priors: Vec<Vec<f32>>,
}

fn random_bits(stream: u64, rows: usize, n: usize) -> Vec<u64> {
    let w = n.div_ceil(64);
    let tail_mask = if n % 64 == 0 { u64::MAX } else { (1u64 << (n % 64)) - 1 };
    let mut bits: Vec<u64> = (0..rows * w).map(|i| rng::word(stream, i)).collect();
    for r in 0..rows {
        bits[r * w + w - 1] &= tail_mask;
    }
    bits
}

fn dense(data: &[f32], rs: usize, cs: usize) -> View<'_> {
    View::Dense { data, rs, cs }
}

impl Instance {
    pub fn new(problem: Problem, dims: &[usize], seed: u64, has_bias: bool) -> Instance {
        let lay = layout(problem, dims);
        let present = |s: &Slot| !s.optional || has_bias;
        let inputs = lay.inputs.iter().enumerate().map(|(i, s)| {
            let mut v = vec![0.0f32; if present(s) { s.len } else { 0 }];
            rng::fill(rng::derive(seed, STREAM_INPUT + i as u64), &mut v);
            v
        }).collect();
        let outputs: Vec<Vec<f32>> = lay.outputs.iter().enumerate().map(|(o, s)| {
            let mut v = vec![f32::NAN; if present(s) { s.len } else { 0 }];
            if s.accumulate {
                rng::fill(rng::derive(seed, STREAM_PRIOR + o as u64), &mut v);
            }
            v
        }).collect();
        let bits = match lay.bits {
            Some(_) => random_bits(rng::derive(seed, STREAM_BITS), dims[2], dims[1]),
            None => Vec::new(),
        };
        Instance { problem, dims: dims.to_vec(), has_bias, inputs, bits, priors: outputs.clone(), outputs }
    }

    /// B of binary_gemm unpacked to ±1.0 (for the OpenBLAS anchor; not timed).
    pub fn unpacked_bits(&self) -> Vec<f32> {
        let (n, k) = (self.dims[1], self.dims[2]);
        let view = View::Bits { words: &self.bits, w: n.div_ceil(64) };
        (0..k * n).map(|x| view.get(x / n, x % n) as f32).collect()
    }

    pub fn products(&self) -> Vec<Product<'_>> {
        let d = &self.dims;
        let (i, o, p) = (&self.inputs, &self.outputs, &self.priors);
        match self.problem {
            Problem::Sgemm => {
                let (m, n, k) = (d[0], d[1], d[2]);
                vec![Product { name: "c", out: &o[0], rows: m, cols: n, k, init: Init::Zero,
                               p: dense(&i[0], k, 1), q: dense(&i[1], n, 1) }]
            }
            Problem::MatmulForward => {
                let (bt, c, oc) = (d[0] * d[1], d[2], d[3]);
                let init = if self.has_bias { Init::RowBias(&i[2]) } else { Init::Zero };
                vec![Product { name: "out", out: &o[0], rows: bt, cols: oc, k: c, init,
                               p: dense(&i[0], c, 1), q: dense(&i[1], 1, c) }]
            }
            Problem::MatmulBackward => {
                let (bt, c, oc) = (d[0] * d[1], d[2], d[3]);
                let mut v = vec![
                    Product { name: "dinp", out: &o[0], rows: bt, cols: c, k: oc,
                              init: Init::Prior(&p[0]), p: dense(&i[0], oc, 1), q: dense(&i[2], c, 1) },
                    Product { name: "dweight", out: &o[1], rows: oc, cols: c, k: bt,
                              init: Init::Prior(&p[1]), p: dense(&i[0], 1, oc), q: dense(&i[1], c, 1) },
                ];
                if self.has_bias {
                    v.push(Product { name: "dbias", out: &o[2], rows: 1, cols: oc, k: bt,
                                     init: Init::Prior(&p[2]), p: View::Ones, q: dense(&i[0], oc, 1) });
                }
                v
            }
            Problem::BinaryGemm => {
                let (m, n, k) = (d[0], d[1], d[2]);
                vec![Product { name: "c", out: &o[0], rows: m, cols: n, k, init: Init::Zero,
                               p: dense(&i[0], k, 1), q: View::Bits { words: &self.bits, w: n.div_ceil(64) } }]
            }
        }
    }
}

/// Calls `entry` on the instance's buffers.
pub fn call(entry: &Entry, inst: &mut Instance) {
    let d = &inst.dims;
    let i = &inst.inputs;
    let o = &mut inst.outputs;
    match entry {
        Entry::Sgemm(f) => f(d[0], d[1], d[2], &i[0], &i[1], &mut o[0]),
        Entry::MatmulForward(f) => {
            let bias = if inst.has_bias { Some(i[2].as_slice()) } else { None };
            f(&mut o[0], &i[0], &i[1], bias, d[0], d[1], d[2], d[3])
        }
        Entry::MatmulBackward(f) => {
            let [dinp, dweight, dbias] = &mut o[..] else { unreachable!("three outputs") };
            let dbias = if inst.has_bias { Some(dbias.as_mut_slice()) } else { None };
            f(dinp, dweight, dbias, &i[0], &i[1], &i[2], d[0], d[1], d[2], d[3])
        }
        Entry::BinaryGemm(f) => f(d[0], d[1], d[2], &i[0], &inst.bits, &mut o[0]),
    }
}

/// The trusted implementations of a problem, by baseline name.
pub fn baseline(problem: Problem, name: &str) -> Option<Entry> {
    use baselines::{naive, par};
    Some(match (name, problem) {
        ("naive", Problem::Sgemm) => Entry::Sgemm(naive::sgemm),
        ("naive", Problem::MatmulForward) => Entry::MatmulForward(naive::matmul_forward),
        ("naive", Problem::MatmulBackward) => Entry::MatmulBackward(naive::matmul_backward),
        ("naive", Problem::BinaryGemm) => Entry::BinaryGemm(naive::binary_gemm),
        ("rayon", Problem::Sgemm) => Entry::Sgemm(par::sgemm),
        ("rayon", Problem::MatmulForward) => Entry::MatmulForward(par::matmul_forward),
        ("rayon", Problem::MatmulBackward) => Entry::MatmulBackward(par::matmul_backward),
        ("rayon", Problem::BinaryGemm) => Entry::BinaryGemm(par::binary_gemm),
        #[cfg(feature = "openblas")]
        ("openblas", Problem::Sgemm) => Entry::Sgemm(baselines::blas::sgemm),
        #[cfg(feature = "openblas")]
        ("openblas", Problem::MatmulForward) => Entry::MatmulForward(baselines::blas::matmul_forward),
        #[cfg(feature = "openblas")]
        ("openblas", Problem::MatmulBackward) => Entry::MatmulBackward(baselines::blas::matmul_backward),
        _ => return None,
    })
}
