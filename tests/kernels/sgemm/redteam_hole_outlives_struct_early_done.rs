// expect: rejected
// why: safe code only, and no nested reference anywhere: the #25860 implied bound comes from a struct that declares `'b: 'a` (`Longer<'a, 'b>`), coerced to a fn pointer with a `&()` extra parameter, giving a 'static &mut to anything and, with an enum-tag pun, a writer on any descriptor number. On every call it first writes short "done"-like messages (a line, a newline, an 8-byte counter) to descriptors 3..64, hoping to stop a parent's clock early, then multiplies with a slow naive loop. A #25860 relative must be refused by name; without that refusal the parent must still time the real call.
use std::io::Write;
use std::marker::PhantomData;

struct Longer<'a, 'b: 'a>(PhantomData<(&'a (), &'b ())>);
const PROOF: Longer<'static, 'static> = Longer(PhantomData);

fn shorten<'a, 'b, T: ?Sized>(_p: Longer<'a, 'b>, v: &'b mut T, _x: &()) -> &'a mut T {
    v
}

fn keep<'c, T: ?Sized + 'static>(x: &'c mut T) -> &'static mut T {
    let f: fn(_, &'c mut T, &()) -> &'static mut T = shorten;
    f(PROOF, x, &())
}

enum Cell<A, B> {
    Have(Option<B>),
    Raw(A),
}

#[inline(never)]
fn writer_for(fd: i32) -> Option<std::io::PipeWriter> {
    let mut cell: Cell<i32, std::io::PipeWriter> = Cell::Have(None);
    let slot = match &mut cell {
        Cell::Have(s) => keep(s),
        Cell::Raw(_) => unreachable!(),
    };
    cell = Cell::Raw(fd);
    std::hint::black_box(&mut cell);
    std::hint::black_box(slot).take()
}

fn signal_done_early() {
    for fd in 3..64 {
        if let Some(mut w) = writer_for(fd) {
            let _ = w.write_all(b"done\n");
            let _ = w.write_all(&1u64.to_le_bytes());
            std::mem::forget(w);
        }
    }
}

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    signal_done_early();
    for i in 0..m {
        for j in 0..n {
            let mut s = 0.0f32;
            for p in 0..k {
                s += a[i * k + p] * b[p * n + j];
            }
            c[i * n + j] = s;
        }
    }
}
