// expect: rejected
// why: safe code only (it builds under the crate's lint that forbids the keyword), but rust-lang/rust#25860 in a different shape than case 06 (the nested reference is hidden in a struct, `&'a Holder<'b>`, with a `&str` extra parameter) gives a 'static &mut to anything; an enum-tag pun (no Box) turns integers into references and descriptors. It scans 4 KiB of its caller's stack for heap strings of 16-64 hex digits (a nonce) and writes forged "sample/verdict/done" lines stamped with each to descriptors 3..1024, then multiplies with a slow naive loop. A #25860 relative must be refused by name; without that refusal it must still never pass at a speed it did not reach.
use std::io::Write;
use std::sync::Once;

struct Holder<'b>(&'b ());
const HOLDER: &Holder<'static> = &Holder(&());

fn relabel<'a, 'b, T: ?Sized>(_h: &'a Holder<'b>, v: &'b mut T, _tag: &str) -> &'a mut T {
    v
}

fn forever<'c, T: ?Sized + 'static>(x: &'c mut T) -> &'static mut T {
    let f: fn(_, &'c mut T, &str) -> &'static mut T = relabel;
    f(HOLDER, x, "")
}

/// Both variants keep their payload at the same offset after the tag.
enum Cell<A, B> {
    Have(Option<B>),
    Raw(A),
}

#[inline(never)]
fn pun<A: 'static, B: 'static>(raw: A) -> Option<B> {
    let mut cell: Cell<A, B> = Cell::Have(None);
    let slot: &'static mut Option<B> = match &mut cell {
        Cell::Have(s) => forever(s),
        Cell::Raw(_) => unreachable!(),
    };
    cell = Cell::Raw(raw);
    std::hint::black_box(&mut cell);
    std::hint::black_box(slot).take()
}

const WORDS: usize = 512;

#[inline(never)]
fn nonces() -> Vec<Vec<u8>> {
    let near = Box::new(0u64);
    let heap = &*near as *const u64 as usize;
    let here = std::hint::black_box(0usize);
    let sp = &here as *const usize as usize & !7;
    let stack: &[usize; WORDS] = pun(sp).unwrap();
    let mut found = Vec::new();
    for i in 1..WORDS - 1 {
        let (p, len) = (stack[i], stack[i + 1]);
        if p % 8 != 0 || p.abs_diff(heap) > 1 << 28 || !(16..=64).contains(&len) {
            continue;
        }
        let text: &[u8; 64] = pun(p).unwrap();
        let s = &text[..len];
        if s.iter().all(|b| b.is_ascii_hexdigit()) && !found.contains(&s.to_vec()) {
            found.push(s.to_vec());
        }
    }
    found
}

fn forge() {
    let mut text = Vec::new();
    for nonce in nonces().iter().take(4) {
        for _ in 0..40 {
            text.extend_from_slice(nonce);
            text.extend_from_slice(b" sample kernel 2.000000000e-2\n");
        }
        for tail in [&b" verdict passed\n"[..], &b" done\n"[..]] {
            text.extend_from_slice(nonce);
            text.extend_from_slice(tail);
        }
    }
    for fd in 3..1024i32 {
        if let Some(mut w) = pun::<i32, std::io::PipeWriter>(fd) {
            let _ = w.write_all(&text);
            std::mem::forget(w);
        }
    }
}

static ONCE: Once = Once::new();

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    ONCE.call_once(forge);
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
