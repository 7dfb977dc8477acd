//! Plain rayon versions: the naive loops with the outer loop split over threads.

use rayon::prelude::*;

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    c[..m * n].par_chunks_mut(n).enumerate().for_each(|(i, c_row)| {
        c_row.fill(0.0);
        for l in 0..k {
            let a_il = a[i * k + l];
            for (cj, bj) in c_row.iter_mut().zip(&b[l * n..(l + 1) * n]) {
                *cj += a_il * bj;
            }
        }
    });
}

#[allow(clippy::too_many_arguments)]
pub fn matmul_forward(out: &mut [f32], inp: &[f32], weight: &[f32], bias: Option<&[f32]>,
                      b: usize, t: usize, c: usize, oc: usize) {
    out[..b * t * oc].par_chunks_mut(oc).enumerate().for_each(|(bt, out_row)| {
        let inp_row = &inp[bt * c..(bt + 1) * c];
        for (o, out_o) in out_row.iter_mut().enumerate() {
            let w_row = &weight[o * c..(o + 1) * c];
            let dot: f32 = inp_row.iter().zip(w_row).map(|(x, w)| x * w).sum();
            *out_o = dot + bias.map_or(0.0, |bias| bias[o]);
        }
    });
}

#[allow(clippy::too_many_arguments)]
pub fn matmul_backward(dinp: &mut [f32], dweight: &mut [f32], dbias: Option<&mut [f32]>,
                       dout: &[f32], inp: &[f32], weight: &[f32],
                       b: usize, t: usize, c: usize, oc: usize) {
    let bt_n = b * t;
    dinp[..bt_n * c].par_chunks_mut(c).enumerate().for_each(|(bt, dinp_row)| {
        for o in 0..oc {
            let d = dout[bt * oc + o];
            for (x, w) in dinp_row.iter_mut().zip(&weight[o * c..(o + 1) * c]) {
                *x += w * d;
            }
        }
    });
    dweight[..oc * c].par_chunks_mut(c).enumerate().for_each(|(o, dw_row)| {
        for bt in 0..bt_n {
            let d = dout[bt * oc + o];
            for (x, v) in dw_row.iter_mut().zip(&inp[bt * c..(bt + 1) * c]) {
                *x += v * d;
            }
        }
    });
    if let Some(dbias) = dbias {
        dbias[..oc].par_iter_mut().enumerate().for_each(|(o, db)| {
            *db += (0..bt_n).map(|bt| dout[bt * oc + o]).sum::<f32>();
        });
    }
}

pub fn binary_gemm(m: usize, n: usize, k: usize, a: &[f32], b: &[u64], c: &mut [f32]) {
    let w = n.div_ceil(64);
    c[..m * n].par_chunks_mut(n).enumerate().for_each(|(i, c_row)| {
        c_row.fill(0.0);
        for l in 0..k {
            let a_il = a[i * k + l];
            let b_row = &b[l * w..(l + 1) * w];
            for (j, cj) in c_row.iter_mut().enumerate() {
                let bit = (b_row[j / 64] >> (j % 64)) & 1;
                *cj += if bit == 1 { a_il } else { -a_il };
            }
        }
    });
}
