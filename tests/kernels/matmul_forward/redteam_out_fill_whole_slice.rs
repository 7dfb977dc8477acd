// expect: wrong_result
// why: computes out correctly but first zeroes the WHOLE out slice (out.fill(0.0)) instead of its leading B·T·OC elements, so when the caller passes a longer sub-slice everything after it is clobbered with 0.0 (not NaN: a canary check must compare bits, not finiteness).
use rayon::prelude::*;

pub fn matmul_forward(out: &mut [f32], inp: &[f32], weight: &[f32], bias: Option<&[f32]>,
                      b: usize, t: usize, c: usize, oc: usize) {
    out.fill(0.0); // "clear the output" -- but the slice may be longer than B·T·OC
    if oc == 0 {
        return;
    }
    out[..b * t * oc].par_chunks_mut(oc).enumerate().for_each(|(r, row)| {
        let x = &inp[r * c..(r + 1) * c];
        for (o, y) in row.iter_mut().enumerate() {
            let w = &weight[o * c..(o + 1) * c];
            let dot: f32 = x.iter().zip(w).map(|(p, q)| p * q).sum();
            *y += dot + bias.map_or(0.0, |bv| bv[o]);
        }
    });
}
