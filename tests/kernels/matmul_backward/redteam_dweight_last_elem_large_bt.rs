// expect: wrong_result
// why: all gradients accumulate correctly except dweight[oc-1][c-1], which drops the last (b,t) term of its sum when B·T > 512 (an edge-tile off-by-one): one wrong element among OC·C, only at large shapes, error ~|dout·inp| far below a row-sum tolerance.
use rayon::prelude::*;

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
        // the last output channel's last tile stops one row short at large B·T
        let last_tile_short = o + 1 == oc && bt > 512;
        for r in 0..bt {
            let d = dout[r * oc + o];
            let x = &inp[r * c..(r + 1) * c];
            let width = if last_tile_short && r + 1 == bt { c - 1 } else { c };
            for (y, v) in g[..width].iter_mut().zip(&x[..width]) {
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
