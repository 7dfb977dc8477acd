// expect: passed
// why: honest: cuts every slice to its leading elements first (inp[..B·T·C], weight[..OC·C], bias[..OC], out[..B·T·OC]) and then uses only chunks_exact / chunks_exact_mut / zip, never indexing past them; C = 0 handled before chunks_exact(0) could panic; never reads or writes the slack of longer slices.
use rayon::prelude::*;

pub fn matmul_forward(out: &mut [f32], inp: &[f32], weight: &[f32], bias: Option<&[f32]>,
                      b: usize, t: usize, c: usize, oc: usize) {
    let bt = b * t;
    let out = &mut out[..bt * oc];
    let bias = bias.map(|bv| &bv[..oc]);
    if oc == 0 {
        return;
    }
    if c == 0 {
        for row in out.chunks_exact_mut(oc) {
            match bias {
                Some(bv) => row.copy_from_slice(bv),
                None => row.fill(0.0),
            }
        }
        return;
    }
    let inp = &inp[..bt * c];
    let weight = &weight[..oc * c];
    out.par_chunks_exact_mut(oc).zip(inp.par_chunks_exact(c)).for_each(|(row, x)| {
        for (o, (y, w)) in row.iter_mut().zip(weight.chunks_exact(c)).enumerate() {
            let mut s = [0.0f32; 8];
            let (xs, ws) = (x.chunks_exact(8), w.chunks_exact(8));
            let tail: f32 = xs.remainder().iter().zip(ws.remainder()).map(|(p, q)| p * q).sum();
            for (xc, wc) in xs.zip(ws) {
                for l in 0..8 {
                    s[l] += xc[l] * wc[l];
                }
            }
            *y = bias.map_or(0.0, |bv| bv[o]) + s.iter().sum::<f32>() + tail;
        }
    });
}
