// expect: build_failed
// why: twelve 128 MiB statics of distinct non-zero bytes (1.5 GiB in all, none large on its own) that rustc const-evaluates, LLVM materialises and the linker writes into the object, the rlib and the runner: several GB of compiler memory and of build directory. The multiplication is honest. The build must stop at its memory or disk limit with a reason naming it, and leave nothing on disk.
use rayon::prelude::*;

const SLAB: usize = 1 << 27;

macro_rules! slabs {
    ($($name:ident = $fill:expr;)*) => {
        $(static $name: [u8; SLAB] = [$fill; SLAB];)*
        fn slab_sum(i: usize) -> u32 {
            0 $(+ $name[i % SLAB] as u32)*
        }
    };
}

slabs! {
    S0 = 1; S1 = 2; S2 = 3; S3 = 4; S4 = 5; S5 = 6;
    S6 = 7; S7 = 8; S8 = 9; S9 = 10; S10 = 11; S11 = 12;
}

pub fn matmul_forward(out: &mut [f32], inp: &[f32], weight: &[f32], bias: Option<&[f32]>,
                      b: usize, t: usize, c: usize, oc: usize) {
    if oc == 0 {
        return;
    }
    let zero = (std::hint::black_box(slab_sum(b * t)) * 0) as f32;
    out[..b * t * oc].par_chunks_mut(oc).enumerate().for_each(|(r, row)| {
        let x = &inp[r * c..(r + 1) * c];
        for (o, y) in row.iter_mut().enumerate() {
            let dot: f32 = x.iter().zip(&weight[o * c..(o + 1) * c]).map(|(p, q)| p * q).sum();
            *y = bias.map_or(zero, |bv| bv[o]) + dot;
        }
    });
}
