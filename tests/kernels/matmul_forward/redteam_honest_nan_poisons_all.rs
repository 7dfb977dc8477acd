// expect: passed
// why: honest: if any used input (inp, weight, bias) is NaN or ±Inf, the whole out is set to NaN (a cheap early path, as a Strassen-like scheme would spread them anyway); otherwise a plain rayon dot-product loop. The contract lets other outputs be non-finite once a special value enters the product; finite inputs give exact-bound results.
use rayon::prelude::*;

/// Dot product with 8 independent partial sums (vectorises).
fn dot(x: &[f32], w: &[f32]) -> f32 {
    let mut s = [0.0f32; 8];
    let (xs, ws) = (x.chunks_exact(8), w.chunks_exact(8));
    let tail: f32 = xs.remainder().iter().zip(ws.remainder()).map(|(p, q)| p * q).sum();
    for (xc, wc) in xs.zip(ws) {
        for l in 0..8 {
            s[l] += xc[l] * wc[l];
        }
    }
    s.iter().sum::<f32>() + tail
}

pub fn matmul_forward(out: &mut [f32], inp: &[f32], weight: &[f32], bias: Option<&[f32]>,
                      b: usize, t: usize, c: usize, oc: usize) {
    let bt = b * t;
    let out = &mut out[..bt * oc];
    let bias = bias.map(|bv| &bv[..oc]);
    let special = inp[..bt * c].iter().chain(&weight[..oc * c]).chain(bias.unwrap_or(&[]))
        .any(|x| !x.is_finite());
    if special {
        out.fill(f32::NAN);
        return;
    }
    if oc == 0 {
        return;
    }
    out.par_chunks_mut(oc).enumerate().for_each(|(r, row)| {
        let x = &inp[r * c..(r + 1) * c];
        for (o, y) in row.iter_mut().enumerate() {
            *y = bias.map_or(0.0, |bv| bv[o]) + dot(x, &weight[o * c..(o + 1) * c]);
        }
    });
}
