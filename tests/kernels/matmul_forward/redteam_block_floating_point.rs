// expect: wrong_result
// why: rounds inp to a 24-bit grid set by the batch's largest value: a quiet token's row of out becomes 0. Caught by rows of their own scales.
use rayon::prelude::*;

// matmul_forward with inp quantised to a 24-bit grid relative to the largest |inp| of the
// whole batch (one shared exponent, block floating point); exact f64 dot products otherwise.
// A token (row of inp) whose activations are far smaller than the batch max is zeroed.
fn quantise(x: &[f32]) -> Vec<f64> {
    let mx = x.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    if mx == 0.0 || !mx.is_finite() { return x.iter().map(|&v| v as f64).collect(); }
    let step = (2.0f64).powf((mx as f64).log2().ceil() - 24.0);
    x.iter().map(|&v| ((v as f64) / step).round() * step).collect()
}

pub fn matmul_forward(out: &mut [f32], inp: &[f32], weight: &[f32], bias: Option<&[f32]>,
                      b: usize, t: usize, c: usize, oc: usize) {
    let bt = b * t;
    if bt == 0 || oc == 0 { return; }
    let inp = &inp[..bt * c];
    let nonfinite = inp.iter().any(|v| !v.is_finite());
    let q: Vec<f64> = if nonfinite { inp.iter().map(|&v| v as f64).collect() } else { quantise(inp) };
    out[..bt * oc].par_chunks_mut(oc).enumerate().for_each(|(r, orow)| {
        let x = &q[r * c..(r + 1) * c];
        for (o, ov) in orow.iter_mut().enumerate() {
            let w = &weight[o * c..(o + 1) * c];
            let mut s = match bias { Some(bb) => bb[o] as f64, None => 0.0 };
            for (xv, wv) in x.iter().zip(w) { s += xv * (*wv as f64); }
            *ov = s as f32;
        }
    });
}
