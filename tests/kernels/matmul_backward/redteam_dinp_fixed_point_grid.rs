// expect: wrong_result
// why: sums each dinp dot product exactly in i64 fixed point with 2^-46 resolution (the product of two values on a 2^-23 grid is a multiple of 2^-46): exact on inputs in [-1, 1) on that grid, but products below 2^-46 vanish (tiny magnitudes) and |products| >= 2^17 saturate (large magnitudes). NaN casts to 0 and Inf saturates, so special values are lost too. dweight and dbias are plain f32 and right.
use rayon::prelude::*;

const ONE: f64 = 70368744177664.0; // 2^46

fn fixed(x: f32, y: f32) -> i64 {
    (x as f64 * y as f64 * ONE) as i64 // saturating cast
}

pub fn matmul_backward(dinp: &mut [f32], dweight: &mut [f32], dbias: Option<&mut [f32]>,
                       dout: &[f32], inp: &[f32], weight: &[f32],
                       b: usize, t: usize, c: usize, oc: usize) {
    let bt = b * t;
    dinp[..bt * c].par_chunks_mut(c.max(1)).enumerate().for_each(|(r, g)| {
        let mut acc = vec![0i64; g.len()];
        for o in 0..oc {
            let d = dout[r * oc + o];
            for (s, w) in acc.iter_mut().zip(&weight[o * c..(o + 1) * c]) {
                *s = s.saturating_add(fixed(d, *w));
            }
        }
        for (x, s) in g.iter_mut().zip(&acc) {
            *x += (*s as f64 / ONE) as f32;
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
