// expect: wrong_result
// why: computes the right gradient sums but assigns (=) them to dinp/dweight/dbias instead of accumulating (+=) into the prior gradients.

pub fn matmul_backward(dinp: &mut [f32], dweight: &mut [f32], dbias: Option<&mut [f32]>,
                       dout: &[f32], inp: &[f32], weight: &[f32],
                       b: usize, t: usize, c: usize, oc: usize) {
    let bt = b * t;
    for r in 0..bt {
        for i in 0..c {
            let mut s = 0.0f32;
            for o in 0..oc {
                s += dout[r * oc + o] * weight[o * c + i];
            }
            dinp[r * c + i] = s;
        }
    }
    for o in 0..oc {
        for i in 0..c {
            let mut s = 0.0f32;
            for r in 0..bt {
                s += dout[r * oc + o] * inp[r * c + i];
            }
            dweight[o * c + i] = s;
        }
    }
    if let Some(db) = dbias {
        for o in 0..oc {
            db[o] = (0..bt).map(|r| dout[r * oc + o]).sum();
        }
    }
}
