// expect: passed
// flags: --shape 1x1024x768x768
// why: one dot product per output element starting from bias (or 0 when None), as in llm.c's reference loop; single-threaded but correct.  Benchmarked at B=1 (llm.c's strict f32 dot loop runs at ~2 GFLOPS, too slow for the test limit on a loaded machine at B=4).

pub fn matmul_forward(out: &mut [f32], inp: &[f32], weight: &[f32], bias: Option<&[f32]>,
                      b: usize, t: usize, c: usize, oc: usize) {
    for r in 0..b * t {
        let x = &inp[r * c..(r + 1) * c];
        for o in 0..oc {
            let w = &weight[o * c..(o + 1) * c];
            let mut s = match bias {
                Some(bv) => bv[o],
                None => 0.0,
            };
            for i in 0..c {
                s += x[i] * w[i];
            }
            out[r * oc + o] = s;
        }
    }
}
