// expect: wrong_result
// why: accumulates (+=) dinp, dbias and dweight rows o < 512, but a second "wide" code path for output channels o >= 512 assigns (=) dweight instead of accumulating, discarding the prior gradient; only visible when OC > 512 (the benchmark shape, OC = 768) with nonzero initial dweight.
use rayon::prelude::*;

const FIRST_PANEL: usize = 512;

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
        if o < FIRST_PANEL {
            for (y, a) in g.iter_mut().zip(&acc) {
                *y += *a;
            }
        } else {
            g.copy_from_slice(&acc); // the second panel forgets to accumulate
        }
    });
    if let Some(db) = dbias {
        for o in 0..oc {
            db[o] += (0..bt).map(|r| dout[r * oc + o]).sum::<f32>();
        }
    }
}
