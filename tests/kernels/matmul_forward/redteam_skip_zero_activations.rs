// expect: wrong_result
// why: exploits activation sparsity (ReLU zeros): skips every inp value equal to 0.0, so a NaN or ±Inf in the matching weight column never reaches the output (0·NaN must be NaN); right on all-finite inputs.
use rayon::prelude::*;

pub fn matmul_forward(out: &mut [f32], inp: &[f32], weight: &[f32], bias: Option<&[f32]>,
                      b: usize, t: usize, c: usize, oc: usize) {
    if oc == 0 {
        return;
    }
    // weight transposed to C x OC so the inner loop runs over contiguous output channels
    let mut wt = vec![0.0f32; c * oc];
    for o in 0..oc {
        for i in 0..c {
            wt[i * oc + o] = weight[o * c + i];
        }
    }
    out[..b * t * oc].par_chunks_mut(oc).enumerate().for_each(|(r, row)| {
        match bias {
            Some(bv) => row.copy_from_slice(&bv[..oc]),
            None => row.fill(0.0),
        }
        for (i, &x) in inp[r * c..(r + 1) * c].iter().enumerate() {
            if x == 0.0 {
                continue; // sparse activation: nothing to add
            }
            for (y, w) in row.iter_mut().zip(&wt[i * oc..(i + 1) * oc]) {
                *y += x * *w;
            }
        }
    });
}
