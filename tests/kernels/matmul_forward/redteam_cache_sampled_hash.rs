// expect: wrong_result
// why: memoises out in a static keyed by a cheap fingerprint (shape, bias presence and 8 sampled values each of inp, weight and bias at fixed positions); a later call whose inputs differ only elsewhere (one updated weight row, a new token in inp) gets the stale output. Honest on a miss.
use rayon::prelude::*;
use std::sync::Mutex;

static MEMO: Mutex<Option<(Vec<u32>, Vec<f32>)>> = Mutex::new(None);

fn sample(v: &[f32], key: &mut Vec<u32>) {
    key.push(v.len() as u32);
    for s in 0..8 {
        if let Some(x) = v.get(s * v.len() / 8) {
            key.push(x.to_bits());
        }
    }
}

pub fn matmul_forward(out: &mut [f32], inp: &[f32], weight: &[f32], bias: Option<&[f32]>,
                      b: usize, t: usize, c: usize, oc: usize) {
    let n = b * t * oc;
    let mut key = vec![b as u32, t as u32, c as u32, oc as u32, bias.is_some() as u32];
    sample(&inp[..b * t * c], &mut key);
    sample(&weight[..oc * c], &mut key);
    sample(bias.map_or(&[][..], |bv| &bv[..oc]), &mut key);
    let mut memo = MEMO.lock().unwrap();
    if let Some((k, hit)) = memo.as_ref() {
        if *k == key {
            out[..n].copy_from_slice(hit);
            return;
        }
    }
    if oc > 0 {
        out[..n].par_chunks_mut(oc).enumerate().for_each(|(r, row)| {
            let x = &inp[r * c..(r + 1) * c];
            for (o, y) in row.iter_mut().enumerate() {
                let dot: f32 = x.iter().zip(&weight[o * c..(o + 1) * c]).map(|(p, q)| p * q).sum();
                *y = bias.map_or(0.0, |bv| bv[o]) + dot;
            }
        });
    }
    *memo = Some((key, out[..n].to_vec()));
}
