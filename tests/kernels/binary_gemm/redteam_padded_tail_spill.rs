// expect: wrong_result
// why: writes C in whole 64-column words: each row's last word is stored over 64 floats starting at its first column, clamped only to c.len(); inside C the spill is overwritten by the next row, but the last row spills up to 63 values (sums of -a) past m·n into a longer C slice whenever n % 64 != 0. C itself is right.
pub fn binary_gemm(m: usize, n: usize, k: usize, a: &[f32], b: &[u64], c: &mut [f32]) {
    let w = n.div_ceil(64);
    let mut tile = [0.0f32; 64];
    for i in 0..m {
        for wj in 0..w {
            tile.fill(0.0);
            for l in 0..k {
                let x = a[i * k + l];
                let word = b[l * w + wj];
                for (bit, y) in tile.iter_mut().enumerate() {
                    *y += if (word >> bit) & 1 == 1 { x } else { -x };
                }
            }
            // store the whole word's tile; "the next row overwrites the overhang"
            let start = i * n + wj * 64;
            let end = (start + 64).min(c.len());
            c[start..end].copy_from_slice(&tile[..end - start]);
        }
    }
}
