// expect: wrong_result
// why: accumulates dinp and dweight correctly but ignores dbias even when it is Some, leaving the bias gradient unchanged.

pub fn matmul_backward(dinp: &mut [f32], dweight: &mut [f32], _dbias: Option<&mut [f32]>,
                       dout: &[f32], inp: &[f32], weight: &[f32],
                       b: usize, t: usize, c: usize, oc: usize) {
    let bt = b * t;
    for r in 0..bt {
        for o in 0..oc {
            let d = dout[r * oc + o];
            for i in 0..c {
                dinp[r * c + i] += d * weight[o * c + i];
            }
        }
    }
    for o in 0..oc {
        for r in 0..bt {
            let d = dout[r * oc + o];
            for i in 0..c {
                dweight[o * c + i] += d * inp[r * c + i];
            }
        }
    }
}
