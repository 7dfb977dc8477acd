// expect: wrong_result
// why: reads weight as a C x OC matrix (weight[i*oc + o]) instead of OC x C, i.e. computes inp·W rather than inp·Wᵀ.

pub fn matmul_forward(out: &mut [f32], inp: &[f32], weight: &[f32], bias: Option<&[f32]>,
                      b: usize, t: usize, c: usize, oc: usize) {
    for r in 0..b * t {
        let row = &mut out[r * oc..(r + 1) * oc];
        match bias {
            Some(bv) => row.copy_from_slice(&bv[..oc]),
            None => row.fill(0.0),
        }
        for i in 0..c {
            let x = inp[r * c + i];
            for (y, w) in row.iter_mut().zip(&weight[i * oc..(i + 1) * oc]) {
                *y += x * *w;
            }
        }
    }
}
