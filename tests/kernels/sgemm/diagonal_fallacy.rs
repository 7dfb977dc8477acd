// expect: wrong_result
// why: computes only the diagonal 32x32 blocks of C (as if A·B were block-diagonal); every off-diagonal block keeps its prior garbage/NaN.

const BS: usize = 32;

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    let blocks = m.min(n).div_ceil(BS);
    for d in 0..blocks {
        let (r0, r1) = (d * BS, ((d + 1) * BS).min(m));
        let (c0, c1) = (d * BS, ((d + 1) * BS).min(n));
        for i in r0..r1 {
            for j in c0..c1 {
                let mut s = 0.0f32;
                for p in 0..k {
                    s += a[i * k + p] * b[p * n + j];
                }
                c[i * n + j] = s;
            }
        }
    }
}
