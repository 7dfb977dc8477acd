// expect: wrong_result
// why: accumulates every row into one small cache-hot 1028-float ring buffer and copies only that buffer into C; right only when m*n <= 1028, garbage elsewhere.

const RING: usize = 1028;

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    let mut ring = [0.0f32; RING];
    for i in 0..m {
        for j in 0..n {
            ring[(i * n + j) % RING] = 0.0;
        }
        for p in 0..k {
            let s = a[i * k + p];
            for j in 0..n {
                ring[(i * n + j) % RING] += s * b[p * n + j];
            }
        }
    }
    let used = (m * n).min(RING);
    c[..used].copy_from_slice(&ring[..used]);
}
