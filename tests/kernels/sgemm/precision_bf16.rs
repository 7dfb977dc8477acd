// expect: wrong_result
// why: truncates every A and B element to bf16 (top 16 bits of the f32) before multiplying; ~2^-8 relative error per product is far outside the f32 bound.

fn bf16(x: f32) -> f32 {
    f32::from_bits(x.to_bits() & 0xFFFF_0000)
}

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    let bq: Vec<f32> = b[..k * n].iter().map(|&x| bf16(x)).collect();
    for i in 0..m {
        let row = &mut c[i * n..(i + 1) * n];
        row.fill(0.0);
        for p in 0..k {
            let s = bf16(a[i * k + p]);
            for (x, y) in row.iter_mut().zip(&bq[p * n..(p + 1) * n]) {
                *x += s * *y;
            }
        }
    }
}
