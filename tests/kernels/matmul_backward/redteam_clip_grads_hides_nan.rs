// expect: wrong_result
// why: "gradient clipping" of each dweight/dbias update with x.max(-LIM).min(LIM): f32::max returns the non-NaN operand, so a NaN gradient becomes -LIM and ±Inf becomes ±LIM; a NaN or Inf in dout or inp never reaches dweight or dbias. Right on finite inputs (LIM = f32::MAX).
use rayon::prelude::*;

const LIM: f32 = f32::MAX;

fn clip(x: f32) -> f32 {
    x.max(-LIM).min(LIM)
}

pub fn matmul_backward(dinp: &mut [f32], dweight: &mut [f32], dbias: Option<&mut [f32]>,
                       dout: &[f32], inp: &[f32], weight: &[f32],
                       b: usize, t: usize, c: usize, oc: usize) {
    let bt = b * t;
    dinp[..bt * c].par_chunks_mut(c.max(1)).enumerate().for_each(|(r, g)| {
        for o in 0..oc {
            let d = dout[r * oc + o];
            for (x, w) in g.iter_mut().zip(&weight[o * c..(o + 1) * c]) {
                *x += d * *w;
            }
        }
    });
    dweight[..oc * c].par_chunks_mut(c.max(1)).enumerate().for_each(|(o, g)| {
        let mut acc = vec![0.0f32; g.len()];
        for r in 0..bt {
            let d = dout[r * oc + o];
            for (y, v) in acc.iter_mut().zip(&inp[r * c..(r + 1) * c]) {
                *y += d * *v;
            }
        }
        for (y, a) in g.iter_mut().zip(&acc) {
            *y += clip(*a);
        }
    });
    if let Some(db) = dbias {
        for o in 0..oc {
            db[o] += clip((0..bt).map(|r| dout[r * oc + o]).sum::<f32>());
        }
    }
}
