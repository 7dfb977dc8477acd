"""The static gate: what a kernel file may not contain, decided on tokens, not text.

Comments and string literals are skipped by a small Rust tokenizer, so a banned name in a
comment is harmless and one in code is caught however it is reached: full paths, `use`
aliases (`use std::fs as x;`), groups (`use std::{fs}`), raw identifiers (`r#fs`) and
macros that paste a path together (the name must still appear as a token somewhere).
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field

from roundtable_tui.kernels.problems import Problem


@dataclass(frozen=True)
class Token:
    kind: str  # ident | punct | literal | lifetime
    text: str
    line: int


@dataclass(frozen=True)
class Finding:
    line: int
    rule: str
    message: str

    def __str__(self) -> str:
        where = f"line {self.line}: " if self.line else ""
        return f"{where}{self.message}"


@dataclass
class GateResult:
    violations: list[Finding] = field(default_factory=list)
    """Reasons to reject the kernel before building it."""
    notes: list[Finding] = field(default_factory=list)
    """What a reviewer should know: threads, SIMD, state kept between calls, …"""

    @property
    def ok(self) -> bool:
        return not self.violations

    @property
    def reason(self) -> str:
        return "; ".join(str(v) for v in self.violations)

    def to_dict(self) -> dict:
        return {
            "ok": self.ok,
            "violations": [asdict(v) for v in self.violations],
            "notes": [asdict(n) for n in self.notes],
        }


class TokenizeError(ValueError):
    pass


_IDENT = re.compile(r"[A-Za-z_\u0080-\U0010ffff][\w\u0080-\U0010ffff]*")
_NUMBER = re.compile(r"[0-9][0-9a-zA-Z_.]*")
_PUNCT3 = ("<<=", ">>=", "...", "..=")
_PUNCT2 = (
    "::",
    "->",
    "=>",
    "==",
    "!=",
    "<=",
    ">=",
    "&&",
    "||",
    "+=",
    "-=",
    "*=",
    "/=",
    "%=",
    "^=",
    "&=",
    "|=",
    "<<",
    ">>",
    "..",
)


def tokenize(src: str) -> list[Token]:
    """Rust tokens with comments and literal contents dropped."""
    tokens: list[Token] = []
    i, line, n = 0, 1, len(src)

    def skip_string(start: int, hashes: int | None) -> int:
        """Index after the closing quote of a string starting at the opening quote."""
        nonlocal line
        j = start + 1
        if hashes is None:  # ordinary string with escapes
            while j < n:
                ch = src[j]
                if ch == "\\":
                    j += 2
                    continue
                if ch == "\n":
                    line += 1
                if ch == '"':
                    return j + 1
                j += 1
        else:  # raw string: ends at a quote followed by the same number of hashes
            closing = '"' + "#" * hashes
            end = src.find(closing, j)
            if end >= 0:
                line += src.count("\n", j, end)
                return end + len(closing)
        raise TokenizeError(f"line {line}: unterminated string literal")

    while i < n:
        ch = src[i]
        if ch == "\n":
            line += 1
            i += 1
        elif ch.isspace():
            i += 1
        elif src.startswith("//", i):
            end = src.find("\n", i)
            i = n if end < 0 else end
        elif src.startswith("/*", i):
            depth, j = 1, i + 2
            while j < n and depth:
                if src.startswith("/*", j):
                    depth, j = depth + 1, j + 2
                elif src.startswith("*/", j):
                    depth, j = depth - 1, j + 2
                else:
                    line += src[j] == "\n"
                    j += 1
            if depth:
                raise TokenizeError(f"line {line}: unterminated block comment")
            i = j
        elif m := re.compile(r'(?:b|c)?r(#*)"').match(src, i):
            start_line = line
            i = skip_string(m.end() - 1, len(m.group(1)))
            tokens.append(Token("literal", "str", start_line))
        elif src.startswith(('b"', 'c"'), i) or ch == '"':
            start_line = line
            i = skip_string(i + (ch != '"'), None)
            tokens.append(Token("literal", "str", start_line))
        elif src.startswith("r#", i) and (m := _IDENT.match(src, i + 2)):
            tokens.append(Token("ident", m.group(), line))  # raw identifier: same name
            i = m.end()
        elif ch == "'" or src.startswith("b'", i):
            j = i + (ch != "'") + 1
            if j < n and src[j] == "\\":  # escaped char literal
                end = src.find("'", j + 2)
                if end < 0:
                    raise TokenizeError(f"line {line}: unterminated character literal")
                tokens.append(Token("literal", "char", line))
                i = end + 1
            elif j + 1 < n and src[j + 1] == "'":  # 'x'
                tokens.append(Token("literal", "char", line))
                i = j + 2
            elif m := _IDENT.match(src, j):  # lifetime or label
                tokens.append(Token("lifetime", m.group(), line))
                i = m.end()
            else:
                raise TokenizeError(f"line {line}: stray quote")
        elif m := _IDENT.match(src, i):
            tokens.append(Token("ident", m.group(), line))
            i = m.end()
        elif m := _NUMBER.match(src, i):
            tokens.append(Token("literal", "num", line))
            i = m.end()
        else:
            for p in (*_PUNCT3, *_PUNCT2):
                if src.startswith(p, i):
                    tokens.append(Token("punct", p, line))
                    i += len(p)
                    break
            else:
                tokens.append(Token("punct", ch, line))
                i += 1
    return tokens


# Names that reach the file system, the network, processes, the environment or the OS, or
# that read files / the environment at build time, or that smuggle in machine code or
# linker tricks. Banned as tokens anywhere, so aliases and macros cannot hide them.
BANNED_NAMES: dict[str, str] = {
    "fs": "file system access (std::fs)",
    "net": "network access (std::net)",
    "process": "process control (std::process)",
    "env": "the environment (std::env / env!)",
    "os": "OS-specific access (std::os)",
    "Path": "file system queries (std::path::Path)",
    "PathBuf": "file system queries (std::path::PathBuf)",
    "include": "include! reads files at build time",
    "include_str": "include_str! reads files at build time",
    "include_bytes": "include_bytes! reads files at build time",
    "option_env": "option_env! reads the build environment",
    "asm": "inline assembly",
    "global_asm": "global assembly",
    "naked_asm": "naked assembly",
    "no_mangle": "#[no_mangle] can replace symbols of the harness",
    "export_name": "#[export_name] can replace symbols of the harness",
    "link_section": "#[link_section] places code or data behind the compiler's back",
    "link_name": "#[link_name] binds foreign symbols",
    "global_allocator": "#[global_allocator] replaces the harness's allocator",
    "naked": "naked functions",
    "linkage": "#[linkage] changes symbol linkage",
}
# Only meaningful inside an attribute; ordinary words elsewhere.
BANNED_IN_ATTRIBUTES: dict[str, str] = {
    "path": "#[path] loads another file as a module",
    "link": "#[link] links a native library",
    "used": "#[used] keeps data alive for the linker",
}


def _signature_types(tokens: list[Token], start: int) -> tuple[list[str], int, bool]:
    """Parameter types of the fn whose `(` is at `start`; (types, index after `)`, ok)."""
    depth, i = 0, start
    params: list[list[str]] = []
    current: list[str] = []
    while i < len(tokens):
        t = tokens[i].text
        if t in "([{" and tokens[i].kind == "punct":
            depth += 1
            if depth == 1:
                i += 1
                continue
        elif t in ")]}" and tokens[i].kind == "punct":
            depth -= 1
            if depth == 0:
                if current:
                    params.append(current)
                break
        elif t == "<":
            depth += 1
        elif t == ">":
            depth -= 1
        elif t == ">>":
            depth -= 2
        if t == "," and depth == 1:
            params.append(current)
            current = []
        else:
            current.append(t)
        i += 1
    types = []
    for p in params:
        if ":" not in p:
            return [], i + 1, False
        types.append("".join(p[p.index(":") + 1 :]))
    return types, i + 1, True


def _normalise_type(rust_type: str) -> str:
    return rust_type.replace(" ", "")


def check_signature(tokens: list[Token], problem: Problem) -> Finding | None:
    """The kernel must define `pub fn <name>` at the top level with the exact parameter types."""
    depth = 0
    found_private = 0
    for idx, tok in enumerate(tokens):
        if tok.kind == "punct" and tok.text in "{}":
            depth += 1 if tok.text == "{" else -1
            continue
        if (
            depth
            or tok.text != "fn"
            or idx + 1 >= len(tokens)
            or tokens[idx + 1].text != problem.name
        ):
            continue
        is_pub = idx > 0 and tokens[idx - 1].text == "pub"
        if not is_pub:
            found_private = tok.line
            continue
        nxt = tokens[idx + 2] if idx + 2 < len(tokens) else None
        if nxt is None or nxt.text != "(":
            return Finding(
                tok.line,
                "signature",
                f"`{problem.name}` must not be generic; expected `{problem.signature}`",
            )
        types, after, ok = _signature_types(tokens, idx + 2)
        expected = [_normalise_type(t) for t in problem.param_types]
        returns = after < len(tokens) and tokens[after].text == "->"
        if not ok or types != expected or returns:
            got = "(" + ", ".join(types) + ")" + (" -> …" if returns else "")
            return Finding(
                tok.line,
                "signature",
                f"`{problem.name}` has the wrong signature {got}; expected `{problem.signature}`",
            )
        return None
    if found_private:
        return Finding(
            found_private, "signature", f"`{problem.name}` must be public: `{problem.signature}`"
        )
    return Finding(
        0, "signature", f"no top-level function `{problem.name}`; expected `{problem.signature}`"
    )


_NOTE_RULES: tuple[tuple[str, tuple[str, ...], str], ...] = (
    (
        "threads",
        ("rayon", "thread", "par_iter", "par_chunks_mut", "par_chunks"),
        "runs on several threads",
    ),
    ("simd", ("arch", "target_feature", "mul_add", "simd"), "uses SIMD / FMA explicitly"),
    (
        "state",
        (
            "static",
            "thread_local",
            "Mutex",
            "RwLock",
            "OnceLock",
            "OnceCell",
            "Cell",
            "RefCell",
            "AtomicUsize",
            "AtomicU64",
            "AtomicBool",
            "AtomicI64",
            "LazyLock",
        ),
        "keeps state between calls (suspicious: results must not be cached)",
    ),
    ("clock", ("time", "Instant", "SystemTime"), "reads the clock (suspicious)"),
    (
        "output",
        ("println", "print", "eprintln", "eprint", "stdout", "stderr", "dbg"),
        "prints output (ignored by the checker)",
    ),
)


_TYPE_END = {",", ")", "]", ">", ";", "=", "{", "|"}


def soundness_hole_patterns(tokens: list[Token]) -> list[Finding]:
    """Known rustc soundness-hole patterns in safe code (a first line of defence only: the
    checker's guarantees do not rest on it).

    rust-lang/rust#25860 (open since 2015): a function whose parameter has a type such as
    `&'a &'b T` gets the implied bound `'b: 'a`; coerced to a fn pointer, the bound is lost and
    any lifetime can be widened to any other, which gives use-after-free, type confusion and
    hence reads and writes at any address from code without `unsafe`. Refused here: a
    reference with a named lifetime whose referent type names another lifetime — the nested
    reference itself (`&'a &'b ()`, `&'static &'b T`, `&'a mut &'b mut T`) and its relatives
    through slices, tuples and generics (`&'a [&'b T]`, `&'a (&'b (), T)`, `&'a Wrapper<'b>`),
    and the bound declared outright (`struct Longer<'a, 'b: 'a>`, `where 'b: 'a`).
    Kernels never need these; `&'a &'a T`, `T: 'static`, loop labels and elided lifetimes stay
    allowed."""
    flat: list[Token] = []
    for t in tokens:  # `&&` is two references
        if t.kind == "punct" and t.text == "&&":
            flat += [Token("punct", "&", t.line), Token("punct", "&", t.line)]
        else:
            flat.append(t)
    found: list[Finding] = []
    lines: set[int] = set()
    for i, t in enumerate(flat):
        if t.text != "&" or i + 1 >= len(flat) or flat[i + 1].kind != "lifetime":
            continue
        outer = flat[i + 1].text
        j = i + 2
        if j < len(flat) and flat[j].text == "mut":
            j += 1
        depth = 0
        while j < len(flat):
            tok = flat[j]
            if tok.text in ("(", "[", "<"):
                depth += 1
            elif tok.text in (")", "]", ">", ">>") and depth > 0:
                depth -= 2 if tok.text == ">>" else 1
                depth = max(depth, 0)
            elif depth == 0 and (
                tok.text in _TYPE_END or tok.kind == "ident" and tok.text == "where"
            ):
                break
            if tok.kind == "lifetime" and tok.text not in (outer, "_") and t.line not in lines:
                lines.add(t.line)
                found.append(
                    Finding(
                        t.line,
                        "soundness_hole",
                        f"a reference `&'{outer} …` to a type naming another lifetime "
                        f"('{tok.text}): the implied-bounds pattern of the rustc soundness hole "
                        "rust-lang/rust#25860, which lets safe code read and write any memory; "
                        "kernels do not need nested references with distinct lifetimes",
                    )
                )
                break
            j += 1
    # an explicit outlives bound between two lifetimes (`'b: 'a` on a struct, fn or impl):
    # the same implied bound, declared instead of implied (the fn-pointer coercion drops it)
    for i, t in enumerate(flat[:-2]):
        nxt, after = flat[i + 1], flat[i + 2]
        if (
            t.kind == "lifetime"
            and nxt.text == ":"
            and after.kind == "lifetime"
            and after.text != t.text
            and t.line not in lines
        ):
            lines.add(t.line)
            found.append(
                Finding(
                    t.line,
                    "soundness_hole",
                    f"an outlives bound between lifetimes ('{t.text}: '{after.text}): with a "
                    "fn-pointer coercion it is the rustc soundness hole rust-lang/rust#25860, "
                    "which lets safe code read and write any memory; kernels do not need "
                    "lifetime bounds",
                )
            )
    return found


def _angle_end(tokens: list[Token], i: int) -> int:
    """Index of the `>` closing the `<` at `i` (`>>` closes two)."""
    depth = 0
    for j in range(i, len(tokens)):
        t = tokens[j].text
        if t == "<":
            depth += 1
        elif t in (">", ">>"):
            depth -= 2 if t == ">>" else 1
            if depth <= 0:
                return j
    return len(tokens) - 1


def dyn_projection_patterns(tokens: list[Token]) -> list[Finding]:
    """rust-lang/rust#57893 (open since 2019): a blanket impl of a trait with an associated
    type (`impl<T: ?Sized, U> Object<U> for T { type Output = U; }`) projected through
    `dyn Object<U, Output = T>` makes a safe transmute between any two types. Refused: a
    `dyn Trait<…, Name = …>` binding of a trait the file also implements for a bare type
    parameter."""
    blanket: dict[str, int] = {}
    for i, t in enumerate(tokens):
        if t.text != "impl" or i + 1 >= len(tokens) or tokens[i + 1].text != "<":
            continue
        end = _angle_end(tokens, i + 1)
        params = {
            tokens[j].text
            for j in range(i + 2, end)
            if tokens[j].kind == "ident" and tokens[j - 1].text in ("<", ",")
        }
        trait = ""
        j = end + 1
        while j < len(tokens) and tokens[j].text not in ("for", "{", ";"):
            if tokens[j].kind == "ident" and not trait:
                trait = tokens[j].text
            if tokens[j].kind == "ident" and tokens[j - 1].text == "::":
                trait = tokens[j].text
            if tokens[j].text == "<":
                j = _angle_end(tokens, j)
            j += 1
        if (
            trait
            and j + 2 < len(tokens)
            and tokens[j].text == "for"
            and tokens[j + 1].text in params
            and tokens[j + 2].text in ("{", "where")
        ):
            blanket[trait] = t.line
    found = []
    for i, t in enumerate(tokens):
        if t.text != "dyn" or i + 2 >= len(tokens):
            continue
        name = tokens[i + 1].text
        if name in blanket and tokens[i + 2].text == "<":
            end = _angle_end(tokens, i + 2)
            if any(tokens[j].text == "=" for j in range(i + 3, end)):
                found.append(
                    Finding(
                        t.line,
                        "soundness_hole",
                        f"`dyn {name}<… = …>` projects an associated type of a trait the file "
                        f"implements for every type (line {blanket[name]}): the rustc "
                        "soundness hole rust-lang/rust#57893, a safe transmute between any "
                        "two types",
                    )
                )
    return found


def gate(
    source: str, problem: Problem, allow_unsafe: bool = False, soundness_holes: bool = True
) -> GateResult:
    """Decides whether `source` may be built at all, and notes what a reviewer should see.
    `soundness_holes=False` switches off the named refusal of known compiler soundness-hole
    patterns (only to show that the checker's guarantees hold without it)."""
    result = GateResult()
    try:
        tokens = tokenize(source)
    except TokenizeError as exc:
        result.violations.append(Finding(0, "syntax", f"cannot read the file: {exc}"))
        return result
    seen: set[tuple[str, int]] = set()

    def violate(tok: Token, rule: str, message: str) -> None:
        if (rule, tok.line) not in seen:
            seen.add((rule, tok.line))
            result.violations.append(Finding(tok.line, rule, message))

    attr_depth = 0  # > 0 while inside #[...] / #![...]
    for idx, tok in enumerate(tokens):
        text = tok.text
        if tok.kind == "punct":
            if (
                text == "["
                and idx
                and (
                    tokens[idx - 1].text == "#"
                    or (tokens[idx - 1].text == "!" and idx > 1 and tokens[idx - 2].text == "#")
                )
            ):
                attr_depth = 1
            elif attr_depth and text == "[":
                attr_depth += 1
            elif attr_depth and text == "]":
                attr_depth -= 1
            continue
        if tok.kind != "ident":
            continue
        if text == "unsafe" and not allow_unsafe:
            violate(tok, "unsafe", "`unsafe` is not allowed (pass --allow-unsafe to permit it)")
        elif text == "extern":
            violate(tok, "extern", "`extern` blocks and crates are not allowed")
        elif text in BANNED_NAMES:
            violate(tok, text, f"`{text}` is not allowed: {BANNED_NAMES[text]}")
        elif attr_depth and text in BANNED_IN_ATTRIBUTES:
            violate(tok, text, f"`{text}` is not allowed: {BANNED_IN_ATTRIBUTES[text]}")
        elif (
            text == "mod"
            and idx + 2 < len(tokens)
            and (tokens[idx + 1].text == "$" or tokens[idx + 2].text == ";")
        ):
            violate(tok, "mod", "modules from other files (`mod name;`) are not allowed")
    if sig := check_signature(tokens, problem):
        result.violations.append(sig)
    if soundness_holes:
        result.violations += soundness_hole_patterns(tokens)
        result.violations += dyn_projection_patterns(tokens)

    names = {t.text for t in tokens if t.kind == "ident"}
    for rule, words, message in _NOTE_RULES:
        hits = sorted(names.intersection(words))
        if hits:
            line = next(t.line for t in tokens if t.text in hits)
            result.notes.append(Finding(line, rule, f"{message} ({', '.join(hits)})"))
    if allow_unsafe and "unsafe" in names:
        line = next(t.line for t in tokens if t.text == "unsafe")
        result.notes.append(Finding(line, "unsafe", "contains `unsafe` code (allowed by the user)"))
    return result
