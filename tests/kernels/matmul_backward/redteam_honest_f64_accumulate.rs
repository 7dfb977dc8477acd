// expect: passed
// why: honest: every gradient sum (dinp rows, dweight rows, dbias) is formed in f64 and added once to the prior f32 gradient (+=, rounded once); rayon over blocks of 4 rows that share each loaded weight/inp row; more accurate than f32 accumulation, and a NaN/Inf still propagates through f64.
use rayon::prelude::*;

const RB: usize = 4;

pub fn matmul_backward(dinp: &mut [f32], dweight: &mut [f32], dbias: Option<&mut [f32]>,
                       dout: &[f32], inp: &[f32], weight: &[f32],
                       b: usize, t: usize, c: usize, oc: usize) {
    let bt = b * t;
    let cw = c.max(1);
    dinp[..bt * c].par_chunks_mut(RB * cw).enumerate().for_each(|(blk, g)| {
        let rows = g.len() / cw;
        let mut acc = vec![0.0f64; g.len()];
        for o in 0..oc {
            let w = &weight[o * c..(o + 1) * c];
            for q in 0..rows {
                let d = dout[(blk * RB + q) * oc + o] as f64;
                for (s, v) in acc[q * c..(q + 1) * c].iter_mut().zip(w) {
                    *s += d * *v as f64;
                }
            }
        }
        for (x, s) in g.iter_mut().zip(&acc) {
            *x = (*x as f64 + s) as f32;
        }
    });
    dweight[..oc * c].par_chunks_mut(RB * cw).enumerate().for_each(|(blk, g)| {
        let rows = g.len() / cw;
        let mut acc = vec![0.0f64; g.len()];
        for r in 0..bt {
            let x = &inp[r * c..(r + 1) * c];
            for q in 0..rows {
                let d = dout[r * oc + blk * RB + q] as f64;
                for (s, v) in acc[q * c..(q + 1) * c].iter_mut().zip(x) {
                    *s += d * *v as f64;
                }
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
