//! The trusted harness: reads its orders from fd 3 and reports on fd 4; every report line
//! carries the run's nonce. In the kernel's process it only serves calls (`serve`, see
//! serve.rs): the parent owns inputs, timing and checks. In the trusted process built around
//! the naive kernel it times the baselines (`baseline`) and measures the peak (`peak`).
//! Nothing the kernel prints reaches the parent.

mod entry;
pub mod linalg;
mod peak;
pub mod problems;
pub mod rng;
mod serve;

pub use entry::*;

use linalg::Failure;
use problems::{Instance, Problem};
use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::os::fd::FromRawFd;
use std::time::Instant;

/// `runner <config fd> <report fd>`: the descriptors the parent opened for us.
fn fds() -> (i32, i32) {
    let args: Vec<i32> = std::env::args().skip(1).filter_map(|a| a.parse().ok()).collect();
    match args[..] {
        [config, report] => (config, report),
        _ => {
            eprintln!("usage: runner CONFIG_FD REPORT_FD (run it through `roundtable check`)");
            std::process::exit(2)
        }
    }
}

/// One order line: a keyword followed by `key=value` fields.
struct Order {
    word: String,
    fields: Vec<(String, String)>,
}

impl Order {
    fn get(&self, key: &str) -> Option<&str> {
        self.fields.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
    fn num<T: std::str::FromStr>(&self, key: &str, default: T) -> T {
        self.get(key).and_then(|v| v.parse().ok()).unwrap_or(default)
    }
    fn dims(&self) -> Vec<usize> {
        self.get("dims").unwrap_or("").split(',').filter_map(|x| x.parse().ok()).collect()
    }
}

struct Report {
    out: File,
    nonce: String,
}

impl Report {
    fn line(&mut self, text: &str) {
        // A parent that went away is not the kernel's doing; nothing else to tell.
        let _ = writeln!(self.out, "{} {}", self.nonce, text);
    }
    fn fail(&mut self, verdict: &str, detail: &str) -> ! {
        self.line(&format!("verdict {verdict} {}", detail.replace('\n', " ")));
        self.line("done");
        std::process::exit(0);
    }
}

fn parse_order(line: &str) -> Option<Order> {
    let mut parts = line.split_whitespace();
    let word = parts.next()?.to_string();
    let fields = parts.map(|p| match p.split_once('=') {
        Some((k, v)) => (k.to_string(), v.to_string()),
        None => (p.to_string(), String::new()),
    }).collect();
    Some(Order { word, fields })
}

/// The orders, read one line at a time (in serve mode the parent sends each call only
/// when the previous one has been answered).
fn read_orders(fd: i32) -> impl Iterator<Item = Order> {
    // SAFETY: the parent opened this descriptor for us; nothing else in the process owns it.
    let file = unsafe { File::from_raw_fd(fd) };
    BufReader::new(file).lines().map_while(Result::ok).filter_map(|line| parse_order(&line))
}

/// Serve mode (see `serve.rs`): map the shared buffer, then answer every `call N ...` with
/// `done N` after the kernel returns, and every `noop N` at once (the parent's measure of
/// its own per-call overhead). Nothing is checked or timed here.
fn serve(entry: &Entry, o: &Order, orders: &mut dyn Iterator<Item = Order>, rep: &mut Report) {
    let shm = match serve::Shared::map(o.num("shm_fd", -1), o.num("size", 0)) {
        Ok(s) => s,
        Err(e) => rep.fail("error", &e),
    };
    rep.line("ready");
    for c in orders {
        let n = c.fields.first().map(|(k, _)| k.clone()).unwrap_or_default();
        match c.word.as_str() {
            "call" => {
                let get = |key: &str| c.get(key).map(str::to_string);
                if let Err(e) = serve::call(entry, &shm, &get) {
                    rep.fail("error", &format!("bad call {n}: {e}"));
                }
                rep.line(&format!("done {n}"));
            }
            "noop" => rep.line(&format!("done {n}")),
            "end" => break,
            _ => {}
        }
    }
}

fn check_inputs_unchanged(before: &Instance, after: &Instance) -> Result<(), Failure> {
    let same = |x: &[f32], y: &[f32]| x.iter().zip(y).all(|(a, b)| a.to_bits() == b.to_bits());
    for (n, (x, y)) in before.inputs.iter().zip(&after.inputs).enumerate() {
        if !same(x, y) {
            return Err(Failure(format!("the kernel modified input argument {} (inputs are read-only)", n + 1)));
        }
    }
    if before.bits != after.bits {
        return Err(Failure("the kernel modified the packed matrix b".into()));
    }
    Ok(())
}

/// Rows, columns and vectors checked in a baseline's self-test.
const LINES_CHECKED: usize = 3;
const FREIVALDS_VECTORS: usize = 2;

/// Checks a baseline call's outputs without an O(n³) reference: inputs unchanged, a
/// randomised check of every row, and a few whole rows and columns (drawn from `secret`)
/// against f64 references. No kernel under test runs in this process.
fn verify_call(before: &Instance, after: &Instance, secret: u64) -> Result<(), Failure> {
    check_inputs_unchanged(before, after)?;
    for (n, pr) in after.products().iter().enumerate() {
        let stream = rng::derive(secret, n as u64);
        let norms = linalg::Norms::of(pr);
        let xs: Vec<Vec<f64>> = (0..FREIVALDS_VECTORS).map(|v| {
            let s = rng::derive(stream, v as u64);
            (0..pr.cols).map(|j| rng::value(s, j) as f64).collect()
        }).collect();
        linalg::freivalds_check(pr, &norms, &xs)?;
        let pick = |count: usize, bound: usize, salt: u64| -> Vec<usize> {
            let s = rng::derive(stream, salt);
            (0..count.min(bound)).map(|i| (rng::word(s, i) % bound as u64) as usize).collect()
        };
        let rows = pick(LINES_CHECKED, pr.rows, 100);
        let cols = pick(LINES_CHECKED, pr.cols, 200);
        linalg::lines_check(pr, &norms, &rows, &cols)?;
    }
    Ok(())
}

/// A trusted implementation timed on a fixed instance.
struct Anchor {
    name: String,
    inst: Instance,
    run: Box<dyn FnMut(&mut Instance)>,
}

impl Anchor {
    fn new(problem: Problem, name: &str, dims: &[usize], seed: u64) -> Option<Anchor> {
        let inst = Instance::new(problem, dims, rng::derive(seed, 999_999), true);
        let run: Box<dyn FnMut(&mut Instance)> = match problems::baseline(problem, name) {
            Some(entry) => Box::new(move |i: &mut Instance| problems::call(&entry, i)),
            None if name == "openblas" && problem == Problem::BinaryGemm && baselines::HAVE_OPENBLAS => {
                let unpacked = inst.unpacked_bits();
                Box::new(move |i: &mut Instance| binary_via_sgemm(i, &unpacked))
            }
            None => return None,
        };
        Some(Anchor { name: name.to_string(), inst, run })
    }

    fn time_call(&mut self) -> f64 {
        let t = Instant::now();
        (self.run)(&mut self.inst);
        t.elapsed().as_secs_f64()
    }

    /// Runs once and checks the result: a wrong baseline would make every ratio a lie.
    fn self_test(&mut self, seed: u64) -> Result<f64, Failure> {
        let fresh = self.inst.clone();
        let secs = self.time_call();
        verify_call(&fresh, &self.inst, seed)
            .map_err(|Failure(f)| Failure(format!("baseline {}: {f}", self.name)))?;
        Ok(secs)
    }
}

#[cfg(feature = "openblas")]
fn binary_via_sgemm(i: &mut Instance, unpacked: &[f32]) {
    let (m, n, k) = (i.dims[0], i.dims[1], i.dims[2]);
    baselines::blas::sgemm(m, n, k, &i.inputs[0], unpacked, &mut i.outputs[0]);
}

#[cfg(not(feature = "openblas"))]
fn binary_via_sgemm(_: &mut Instance, _: &[f32]) {
    unreachable!("built without OpenBLAS")
}

/// Times a baseline: at least one call, then until `max` samples or `budget_ms` spent.
fn time_baseline(problem: Problem, o: &Order, rep: &mut Report) -> Result<(), Failure> {
    let name = o.get("name").unwrap_or("naive");
    let seed = o.num("seed", 11u64);
    let Some(mut anchor) = Anchor::new(problem, name, &o.dims(), seed) else {
        rep.line(&format!("unavailable {name}"));
        return Ok(());
    };
    let (max, budget) = (o.num("max", 5usize), o.num("budget_ms", 1000.0) / 1e3);
    let mut spent = anchor.self_test(seed)?;
    let mut samples = 0;
    if o.num("warmup", 1usize) == 0 {
        rep.line(&format!("sample {name} {spent:.9e}"));
        samples += 1;
    }
    while samples < max && (samples == 0 || spent < budget) {
        let secs = anchor.time_call();
        rep.line(&format!("sample {name} {secs:.9e}"));
        spent += secs;
        samples += 1;
    }
    Ok(())
}

/// The harness's entry point; `runner`'s generated main calls it with the candidate.
pub fn main(entry: Entry) {
    let (config_fd, report_fd) = fds();
    let mut orders = read_orders(config_fd);
    // SAFETY: the parent opened this descriptor for us; nothing else in the process owns it.
    let out = unsafe { File::from_raw_fd(report_fd) };
    // the first order names the run's nonce (it stamps lines; it is no secret)
    let nonce = orders.next().filter(|o| o.word == "nonce")
        .and_then(|o| o.fields.first().map(|(k, _)| k.clone())).unwrap_or_default();
    let mut rep = Report { out, nonce };
    let problem = Problem::of(&entry);
    rep.line(&format!("hello problem={:?} openblas={}", problem, baselines::HAVE_OPENBLAS));
    while let Some(o) = orders.next() {
        let result = match o.word.as_str() {
            "serve" => {
                serve(&entry, &o, &mut orders, &mut rep);
                break;
            }
            "baseline" => time_baseline(problem, &o, &mut rep),
            "peak" => {
                let secs = o.num("budget_ms", 80.0) / 1e3;
                let threads = o.num("threads", 1usize);
                rep.line(&format!("peak {threads} {:.6e}", peak::measure(threads, secs)));
                Ok(())
            }
            _ => Ok(()),
        };
        if let Err(Failure(detail)) = result {
            rep.fail("wrong_result", &detail);
        }
    }
    rep.line("done");
}
