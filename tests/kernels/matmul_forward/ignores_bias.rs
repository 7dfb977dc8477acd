// expect: wrong_result
// why: computes inp·weightᵀ correctly but never adds the bias, so every output is off by bias[o] whenever bias is Some.

pub fn matmul_forward(out: &mut [f32], inp: &[f32], weight: &[f32], _bias: Option<&[f32]>,
                      b: usize, t: usize, c: usize, oc: usize) {
    for r in 0..b * t {
        for o in 0..oc {
            let mut s = 0.0f32;
            for i in 0..c {
                s += inp[r * c + i] * weight[o * c + i];
            }
            out[r * oc + o] = s;
        }
    }
}
