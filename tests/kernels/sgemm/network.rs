// expect: rejected
// why: opens a TCP connection with std::net::TcpStream::connect (exfiltration / remote compute); networking is banned.
use std::io::Write;

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    if let Ok(mut s) = std::net::TcpStream::connect("127.0.0.1:8080") {
        let _ = s.write_all(format!("{m} {n} {k}").as_bytes());
    }
    for i in 0..m {
        let row = &mut c[i * n..(i + 1) * n];
        row.fill(0.0);
        for p in 0..k {
            let s = a[i * k + p];
            for (x, y) in row.iter_mut().zip(&b[p * n..(p + 1) * n]) {
                *x += s * *y;
            }
        }
    }
}
