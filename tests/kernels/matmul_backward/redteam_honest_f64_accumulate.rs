// expect: passed
// why: honest: every gradient sum (dinp rows, dweight rows, dbias) is formed in f64 and added once to the prior f32 gradient (+=, rounded once); rayon over rows; more accurate than f32 accumulation, and a NaN/Inf still propagates through f64.
use rayon::prelude::*;

pub fn matmul_backward(dinp: &mut [f32], dweight: &mut [f32], dbias: Option<&mut [f32]>,
                       dout: &[f32], inp: &[f32], weight: &[f32],
                       b: usize, t: usize, c: usize, oc: usize) {
    let bt = b * t;
    dinp[..bt * c].par_chunks_mut(c.max(1)).enumerate().for_each(|(r, g)| {
        let mut acc = vec![0.0f64; g.len()];
        for o in 0..oc {
            let d = dout[r * oc + o] as f64;
            for (s, w) in acc.iter_mut().zip(&weight[o * c..(o + 1) * c]) {
                *s += d * *w as f64;
            }
        }
        for (x, s) in g.iter_mut().zip(&acc) {
            *x = (*x as f64 + s) as f32;
        }
    });
    dweight[..oc * c].par_chunks_mut(c.max(1)).enumerate().for_each(|(o, g)| {
        let mut acc = vec![0.0f64; g.len()];
        for r in 0..bt {
            let d = dout[r * oc + o] as f64;
            for (s, v) in acc.iter_mut().zip(&inp[r * c..(r + 1) * c]) {
                *s += d * *v as f64;
            }
        }
        for (y, s) in g.iter_mut().zip(&acc) {
            *y = (*y as f64 + s) as f32;
        }
    });
    if let Some(db) = dbias {
        for o in 0..oc {
            let s: f64 = (0..bt).map(|r| dout[r * oc + o] as f64).sum();
            db[o] = (db[o] as f64 + s) as f32;
        }
    }
}
