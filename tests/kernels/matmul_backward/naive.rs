// expect: passed
// why: llm.c-style loops that accumulate (+=) into dinp, dweight and (when Some) dbias; single-threaded, correct.

pub fn matmul_backward(dinp: &mut [f32], dweight: &mut [f32], dbias: Option<&mut [f32]>,
                       dout: &[f32], inp: &[f32], weight: &[f32],
                       b: usize, t: usize, c: usize, oc: usize) {
    let bt = b * t;
    for r in 0..bt {
        let g = &mut dinp[r * c..(r + 1) * c];
        for o in 0..oc {
            let d = dout[r * oc + o];
            let w = &weight[o * c..(o + 1) * c];
            for i in 0..c {
                g[i] += d * w[i];
            }
        }
    }
    for o in 0..oc {
        let g = &mut dweight[o * c..(o + 1) * c];
        for r in 0..bt {
            let d = dout[r * oc + o];
            let x = &inp[r * c..(r + 1) * c];
            for i in 0..c {
                g[i] += d * x[i];
            }
        }
    }
    if let Some(db) = dbias {
        for o in 0..oc {
            let mut s = 0.0f32;
            for r in 0..bt {
                s += dout[r * oc + o];
            }
            db[o] += s;
        }
    }
}
