"""The static gate: banned constructs are caught however they are spelled; harmless text
(comments, strings) is not mistaken for code; the signature must be exact."""

import pytest

from roundtable_tui.kernels import policy, problems

SGEMM = problems.get("sgemm")
SIG = "pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32])"


def gate(body: str, prelude: str = "", allow_unsafe: bool = False) -> policy.GateResult:
    return policy.gate(f"{prelude}\n{SIG} {{\n{body}\n}}\n", SGEMM, allow_unsafe)


def rules(result: policy.GateResult) -> set[str]:
    return {v.rule for v in result.violations}


def test_naive_kernel_passes_the_gate():
    src = problems.naive_kernel_path(SGEMM, problems_workspace()).read_text()
    assert policy.gate(src, SGEMM).ok


def problems_workspace():
    from roundtable_tui.config import settings

    return settings().rust_workspace


@pytest.mark.parametrize(
    "prelude,body,rule",
    [
        ("", 'std::fs::write("/tmp/x", b"x").unwrap();', "fs"),
        ("use std::fs as storage;", 'storage::write("x", "y").unwrap();', "fs"),
        ("use std::{io, fs as f};", "", "fs"),
        ("use std as s;", 's::r#fs::write("x", "y").unwrap();', "fs"),
        ("", 'let _ = ::std::process::Command::new("sh");', "process"),
        ("use std::{process as p};", "", "process"),
        ("", 'let _ = std::net::TcpStream::connect("127.0.0.1:1");', "net"),
        ("", 'let _ = std::env::var("HOME");', "env"),
        ("", 'let _ = env!("HOME");', "env"),
        ("", 'let _ = option_env!("HOME");', "option_env"),
        ("", 'let _ = include_str!("/etc/passwd");', "include_str"),
        ("", 'let _ = include_bytes!("/etc/passwd");', "include_bytes"),
        ('include!("other.rs");', "", "include"),
        (
            'macro_rules! go { ($m:ident) => { std::$m::write("x", "y").unwrap() } }',
            "go!(fs);",
            "fs",
        ),
        ('#[unsafe(no_mangle)] pub extern "C" fn main() {}', "", "no_mangle"),
        ('#[export_name = "malloc"] fn f() {}', "", "export_name"),
        ('#[link_section = ".init_array"] static X: u8 = 0;', "", "link_section"),
        ('extern "C" { fn abort(); }', "", "extern"),
        ("extern crate alloc;", "", "extern"),
        ('#[path = "/etc/passwd"] mod x;', "", "path"),
        ("mod helpers;", "", "mod"),
        ('core::arch::global_asm!("nop");', "", "global_asm"),
        ("", "unsafe { *c.get_unchecked_mut(0) = 0.0; }", "unsafe"),
        ("use std::os::unix::ffi::OsStrExt;", "", "os"),
        ('#[cfg_attr(all(), path = "x.rs")] mod y { }', "", "path"),
    ],
)
def test_banned_constructs_are_rejected(prelude, body, rule):
    result = gate(body, prelude)
    assert not result.ok
    assert rule in rules(result), result.violations


@pytest.mark.parametrize(
    "text",
    [
        "// std::fs::write and unsafe and std::process in a comment",
        '/* nested /* std::net */ still comment: extern "C" */',
        'let _s = "std::env::var(\\"x\\") unsafe";',
        'let _s = r#"include_str!("/etc/passwd") " quote"#;',
        "let _c = '\"'; let _d = b'x'; let _e = '\\u{41}';",
    ],
)
def test_comments_and_strings_are_not_code(text):
    assert gate(text).ok, gate(text).violations


def test_lifetimes_are_not_char_literals():
    src = (
        "fn first<'a>(x: &'a [f32]) -> &'a [f32] { x }\n"
        f"{SIG} {{ let _ = first(a); 'outer: for _ in 0..1 {{ break 'outer; }} }}"
    )
    assert policy.gate(src, SGEMM).ok


def test_unsafe_is_allowed_only_when_asked_and_then_noted():
    body = "unsafe { *c.get_unchecked_mut(0) = 1.0; }"
    assert not gate(body).ok
    allowed = gate(body, allow_unsafe=True)
    assert allowed.ok
    assert any(n.rule == "unsafe" for n in allowed.notes)


def test_extern_stays_banned_with_allow_unsafe():
    assert "extern" in rules(gate("", 'extern "C" { fn abort(); }', allow_unsafe=True))


@pytest.mark.parametrize(
    "source,fragment",
    [
        ("pub fn matmul(m: usize) {}", "no top-level function `sgemm`"),
        (
            "fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {}",
            "must be public",
        ),
        (
            "pub fn sgemm(m: i32, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {}",
            "wrong signature",
        ),
        (
            "pub fn sgemm(m: usize, n: usize, k: usize, a: &Vec<f32>, b: &[f32], c: &mut [f32]) {}",
            "wrong signature",
        ),
        (
            "pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) "
            "-> f32 { 0.0 }",
            "wrong signature",
        ),
        (
            "pub fn sgemm<T>(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], c: &mut [f32]) {}",
            "must not be generic",
        ),
        (
            "mod inner { pub fn sgemm(m: usize, n: usize, k: usize, a: &[f32], b: &[f32], "
            "c: &mut [f32]) {} }",
            "no top-level function",
        ),
    ],
)
def test_signature_must_be_exact(source, fragment):
    result = policy.gate(source, SGEMM)
    assert not result.ok
    assert fragment in result.reason


def test_signature_accepts_other_parameter_names_and_mut_bindings():
    src = (
        "pub fn sgemm(mut rows: usize, cols: usize, depth: usize, lhs: &[f32], "
        "rhs: &[f32], out: &mut [ f32 ]) {}"
    )
    assert policy.gate(src, SGEMM).ok


@pytest.mark.parametrize("name", ["matmul_forward", "matmul_backward", "binary_gemm"])
def test_every_catalogue_signature_passes_its_own_gate(name):
    p = problems.get(name)
    assert policy.gate(p.signature + " {}", p).ok


def test_notes_flag_state_kept_between_calls_and_threads():
    src = (
        "use rayon::prelude::*;\nuse std::sync::Mutex;\n"
        "static CACHE: Mutex<Vec<f32>> = Mutex::new(Vec::new());\n"
        f"{SIG} {{ c.par_chunks_mut(n).for_each(|_r| ()); }}"
    )
    notes = {n.rule for n in policy.gate(src, SGEMM).notes}
    assert {"state", "threads"} <= notes


def test_unterminated_string_is_a_clear_rejection():
    result = policy.gate(f'{SIG} {{ let s = "never closed; }}', SGEMM)
    assert not result.ok
    assert "unterminated string" in result.reason


@pytest.mark.parametrize(
    "prelude",
    [
        "fn widen<'a, 'b, T>(_w: &'a &'b (), v: &'b mut T) -> &'a mut T { v }",
        "fn w<'b, T>(_w: &'static &'b (), v: &'b T) -> &'static T { v }",
        "fn w<'a, 'b, T>(_w: &'a [&'b (); 1], v: &'b T, _s: &str) -> &'a T { v }",
        "struct Holder<'b>(&'b ());\nfn w<'a, 'b, T>(_h: &'a Holder<'b>, v: &'b T) -> &'a T { v }",
        "fn w<'a, 'b, T>(_o: &'a Option<&'b ()>, v: &'b T) -> &'a T { v }",
        "fn w<'a, 'b, T>(_o: &'a mut &'b mut (), v: &'b T) -> &'a T { v }",
        "struct Longer<'a, 'b: 'a>(std::marker::PhantomData<(&'a (), &'b ())>);",
        "fn w<'a, 'b, T>(v: &'b T) -> &'a T where 'b: 'a { v }",
        "trait Object<U> { type Output; }\n"
        "impl<T: ?Sized, U> Object<U> for T { type Output = U; }\n"
        "fn pass<T: ?Sized, U>(x: <T as Object<U>>::Output) -> U { x }\n"
        "fn cast<T, U>(x: T) -> U { pass::<dyn Object<U, Output = T>, U>(x) }",
    ],
)
def test_soundness_hole_pattern_is_refused_by_name(prelude):
    result = gate("", prelude)
    assert "soundness_hole" in rules(result)
    assert "rust-lang/rust#25860" in result.reason or "rust-lang/rust#57893" in result.reason
    off = policy.gate(f"{prelude}\n{SIG} {{}}\n", SGEMM, soundness_holes=False)
    assert "soundness_hole" not in rules(off)


@pytest.mark.parametrize(
    "prelude",
    [
        "fn rows<'a>(x: &'a [f32], n: usize) -> Vec<&'a [f32]> { x.chunks(n).collect() }",
        "fn f(x: &&f32) -> f32 { **x }",
        "fn g<'a>(x: &'a [&'a [f32]]) -> usize { x.len() }",
        "fn h(v: &[f32]) -> f32 { v.iter().filter(|&&x| x > 0.0).sum() }",
        "const NAMES: &'static [&'static str] = &[\"a\"];",
        "fn s<T: ?Sized + 'static>(x: &T) -> usize { 'outer: loop { break 'outer 0; } }",
        "fn it(v: &[f32]) -> Box<dyn Iterator<Item = f32> + '_> { Box::new(v.iter().copied()) }",
        "trait Tile { fn run(&self); }\nimpl<T: Copy> Tile for [T; 4] { fn run(&self) {} }",
    ],
)
def test_ordinary_lifetimes_are_not_mistaken_for_the_hole(prelude):
    assert "soundness_hole" not in rules(gate("", prelude))
