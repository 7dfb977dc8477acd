// expect: wrong_result
// why: computes the dinp update in a scratch buffer padded to a multiple of 16 lanes (pad lanes repeat the last row's values) and adds it over dinp[..padded] clamped only to dinp.len(): when the caller's dinp is longer and B·T·C % 16 != 0, up to 15 floats after the used region are modified. dweight and dbias are right.
use rayon::prelude::*;

const LANES: usize = 16;

pub fn matmul_backward(dinp: &mut [f32], dweight: &mut [f32], dbias: Option<&mut [f32]>,
                       dout: &[f32], inp: &[f32], weight: &[f32],
                       b: usize, t: usize, c: usize, oc: usize) {
    let bt = b * t;
    let n = bt * c;
    let padded = n.div_ceil(LANES) * LANES;
    let mut grad = vec![0.0f32; padded];
    grad[..n].par_chunks_mut(c.max(1)).enumerate().for_each(|(r, g)| {
        for o in 0..oc {
            let d = dout[r * oc + o];
            for (x, w) in g.iter_mut().zip(&weight[o * c..(o + 1) * c]) {
                *x += d * *w;
            }
        }
    });
    for p in n..padded {
        grad[p] = grad[p - c.min(LANES).max(1)]; // "broadcast the tail lanes"
    }
    // vector-width add: the tail lanes land after the used region of a longer dinp
    let end = padded.min(dinp.len());
    dinp[..end].par_chunks_mut(LANES).zip(grad.par_chunks(LANES)).for_each(|(x, g)| {
        for (p, q) in x.iter_mut().zip(g) {
            *p += *q;
        }
    });
    dweight[..oc * c].par_chunks_mut(c.max(1)).enumerate().for_each(|(o, g)| {
        for r in 0..bt {
            let d = dout[r * oc + o];
            for (y, v) in g.iter_mut().zip(&inp[r * c..(r + 1) * c]) {
                *y += d * *v;
            }
        }
    });
    if let Some(db) = dbias {
        for o in 0..oc {
            db[o] += (0..bt).map(|r| dout[r * oc + o]).sum::<f32>();
        }
    }
}
