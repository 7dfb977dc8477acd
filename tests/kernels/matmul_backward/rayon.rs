// expect: passed
// why: rayon over 8-row blocks of dinp and 16-row blocks of dweight (register/cache reuse of the shared row), dbias summed per column; all gradients accumulate (+=), dbias optional.
use rayon::prelude::*;

const RB: usize = 8;
const OBK: usize = 16;

pub fn matmul_backward(dinp: &mut [f32], dweight: &mut [f32], dbias: Option<&mut [f32]>,
                       dout: &[f32], inp: &[f32], weight: &[f32],
                       b: usize, t: usize, c: usize, oc: usize) {
    let bt = b * t;
    if c > 0 {
        // dinp[r,:] += Σ_o dout[r,o] · weight[o,:]
        dinp[..bt * c].par_chunks_mut(RB * c).enumerate().for_each(|(blk, rows)| {
            let r0 = blk * RB;
            let nr = rows.len() / c;
            for o in 0..oc {
                let w = &weight[o * c..(o + 1) * c];
                for rr in 0..nr {
                    let d = dout[(r0 + rr) * oc + o];
                    for (g, x) in rows[rr * c..(rr + 1) * c].iter_mut().zip(w) {
                        *g += d * *x;
                    }
                }
            }
        });
        // dweight[o,:] += Σ_r dout[r,o] · inp[r,:]
        dweight[..oc * c].par_chunks_mut(OBK * c).enumerate().for_each(|(blk, rows)| {
            let o0 = blk * OBK;
            let no = rows.len() / c;
            for r in 0..bt {
                let x = &inp[r * c..(r + 1) * c];
                let ds = &dout[r * oc + o0..r * oc + o0 + no];
                for (oo, &d) in ds.iter().enumerate() {
                    for (g, v) in rows[oo * c..(oo + 1) * c].iter_mut().zip(x) {
                        *g += d * *v;
                    }
                }
            }
        });
    }
    if let Some(db) = dbias {
        let mut sums = vec![0.0f32; oc];
        for r in 0..bt {
            for (s, d) in sums.iter_mut().zip(&dout[r * oc..(r + 1) * oc]) {
                *s += *d;
            }
        }
        for (g, s) in db.iter_mut().zip(&sums) {
            *g += *s;
        }
    }
}
