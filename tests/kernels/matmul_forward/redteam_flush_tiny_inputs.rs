// expect: wrong_result
// why: flushes every inp and weight value with |x| < 2^-20 to zero ("denormal avoidance"); invisible on inputs drawn from [-1, 1), but small-magnitude data (activations ~1e-7, or every tiny value in a wide-exponent draw) gives out = bias alone, off by 100% of the dot product.
use rayon::prelude::*;

const TINY: f32 = 9.536743e-7; // 2^-20

fn flush(x: f32) -> f32 {
    if x.abs() < TINY { 0.0 } else { x }
}

pub fn matmul_forward(out: &mut [f32], inp: &[f32], weight: &[f32], bias: Option<&[f32]>,
                      b: usize, t: usize, c: usize, oc: usize) {
    if oc == 0 {
        return;
    }
    let wf: Vec<f32> = weight[..oc * c].iter().map(|&x| flush(x)).collect();
    out[..b * t * oc].par_chunks_mut(oc).enumerate().for_each(|(r, row)| {
        let x: Vec<f32> = inp[r * c..(r + 1) * c].iter().map(|&v| flush(v)).collect();
        for (o, y) in row.iter_mut().enumerate() {
            let dot: f32 = x.iter().zip(&wf[o * c..(o + 1) * c]).map(|(p, q)| p * q).sum();
            *y = bias.map_or(0.0, |bv| bv[o]) + dot;
        }
    });
}
