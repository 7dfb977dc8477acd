//! Naive matmul_forward, the loop of llm.c's reference CPU code: one dot product per
//! output element, no blocking, no threads.

pub fn matmul_forward(out: &mut [f32], inp: &[f32], weight: &[f32], bias: Option<&[f32]>,
                      b: usize, t: usize, c: usize, oc: usize) {
    for bt in 0..b * t {
        let inp_row = &inp[bt * c..(bt + 1) * c];
        for o in 0..oc {
            let w_row = &weight[o * c..(o + 1) * c];
            let mut val = match bias {
                Some(bias) => bias[o],
                None => 0.0,
            };
            for i in 0..c {
                val += inp_row[i] * w_row[i];
            }
            out[bt * oc + o] = val;
        }
    }
}
