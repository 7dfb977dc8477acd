// expect: crashed
// why: unrolls j by 4 with no remainder loop; indexing the row slice at j+3 panics (index out of bounds) whenever n is not a multiple of 4.

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    for i in 0..m {
        let row = &mut c[i * n..(i + 1) * n];
        let mut j = 0;
        while j < n {
            let (mut s0, mut s1, mut s2, mut s3) = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
            for p in 0..k {
                let x = a[i * k + p];
                let brow = &b[p * n..(p + 1) * n];
                s0 += x * brow[j];
                s1 += x * brow[j + 1];
                s2 += x * brow[j + 2];
                s3 += x * brow[j + 3];
            }
            row[j] = s0;
            row[j + 1] = s1;
            row[j + 2] = s2;
            row[j + 3] = s3;
            j += 4;
        }
    }
}
