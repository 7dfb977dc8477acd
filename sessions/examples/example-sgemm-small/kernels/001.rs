use rayon::prelude::*;
use std::sync::Arc;

fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    let mut c_row = &mut c[0..n];
    c_row.fill(0.0);
    for l in 0..k {
        let a_il = a[l * k];
        let b_row = &b[l * n..(l + 1) * n];
        for j in 0..n {
            c_row[j] += a_il * b_row[j];
        }
    }
}

fn main() {
    let m = 1024;
    let n = 1024;
    let k = 1024;
    let a = Arc::new(vec![1.0; m * k]);
    let b = Arc::new(vec![1.0; k * n]);
    let c = Arc::new(vec![0.0; m * n]);

    sgemm(m, n, k, &a, &b, &c);

    println!("C matrix:");
    for row in c.iter() {
        println!("{:?}", row);
    }
}
