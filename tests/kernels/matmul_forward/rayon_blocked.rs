// expect: passed
// why: rayon over 4-row chunks of bt, blocked over 64 output channels so the weight block stays in cache, 8-lane dot products; bias Some/None both handled.
use rayon::prelude::*;

const ROWS: usize = 4;
const OB: usize = 64;

fn dot8(x: &[f32], w: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (xc, wc) = (x.chunks_exact(8), w.chunks_exact(8));
    let tail: f32 = xc.remainder().iter().zip(wc.remainder()).map(|(p, q)| p * q).sum();
    for (p, q) in xc.zip(wc) {
        for l in 0..8 {
            lanes[l] = p[l].mul_add(q[l], lanes[l]);
        }
    }
    lanes.iter().sum::<f32>() + tail
}

pub fn matmul_forward(out: &mut [f32], inp: &[f32], weight: &[f32], bias: Option<&[f32]>,
                      b: usize, t: usize, c: usize, oc: usize) {
    let bt = b * t;
    if bt == 0 || oc == 0 {
        return;
    }
    let inp = &inp[..bt * c];
    let weight = &weight[..oc * c];
    out[..bt * oc].par_chunks_mut(ROWS * oc).enumerate().for_each(|(chunk, o_rows)| {
        let r0 = chunk * ROWS;
        let nrows = o_rows.len() / oc;
        for o0 in (0..oc).step_by(OB) {
            let o1 = (o0 + OB).min(oc);
            for rr in 0..nrows {
                let x = &inp[(r0 + rr) * c..(r0 + rr + 1) * c];
                for o in o0..o1 {
                    let d = dot8(x, &weight[o * c..(o + 1) * c]);
                    o_rows[rr * oc + o] = match bias {
                        Some(bv) => bv[o] + d,
                        None => d,
                    };
                }
            }
        }
    });
}
