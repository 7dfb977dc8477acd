//! Naive matmul_backward, the loops of llm.c's reference CPU code. Gradients accumulate.

pub fn matmul_backward(dinp: &mut [f32], dweight: &mut [f32], dbias: Option<&mut [f32]>,
                       dout: &[f32], inp: &[f32], weight: &[f32],
                       b: usize, t: usize, c: usize, oc: usize) {
    // dinp += dout · weight
    for bt in 0..b * t {
        let dinp_row = &mut dinp[bt * c..(bt + 1) * c];
        for o in 0..oc {
            let d = dout[bt * oc + o];
            let w_row = &weight[o * c..(o + 1) * c];
            for i in 0..c {
                dinp_row[i] += w_row[i] * d;
            }
        }
    }
    // dweight += doutᵀ · inp
    for o in 0..oc {
        let dw_row = &mut dweight[o * c..(o + 1) * c];
        for bt in 0..b * t {
            let d = dout[bt * oc + o];
            let inp_row = &inp[bt * c..(bt + 1) * c];
            for i in 0..c {
                dw_row[i] += inp_row[i] * d;
            }
        }
    }
    // dbias += column sums of dout
    if let Some(dbias) = dbias {
        for bt in 0..b * t {
            for o in 0..oc {
                dbias[o] += dout[bt * oc + o];
            }
        }
    }
}
