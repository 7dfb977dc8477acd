//! Serve mode: the harness as a thin caller of the kernel, nothing more.
//!
//! The parent (roundtable) makes every input, keeps its own copy, times every call on its
//! own clock and checks every output itself. This process only maps the shared buffer the
//! parent handed it, and for each `call` line calls the kernel on the slices the line names
//! and answers `done N`. It holds no seed, no probe list and no input of a later call: the
//! parent writes each call's inputs into the shared buffer only while this process is
//! stopped, just before the call.

use crate::Entry;
use std::ffi::c_void;

const PROT_READ: i32 = 1;
const PROT_WRITE: i32 = 2;
const MAP_SHARED: i32 = 1;

unsafe extern "C" {
    fn mmap(addr: *mut c_void, len: usize, prot: i32, flags: i32, fd: i32, off: i64) -> *mut c_void;
    fn close(fd: i32) -> i32;
}

/// The shared buffer, mapped once for the whole run.
pub struct Shared {
    base: *mut u8,
    size: usize,
}

impl Shared {
    /// Maps `size` bytes of descriptor `fd` and closes the descriptor (the kernel can then
    /// reach the buffer only through this mapping, never write to it as a file).
    pub fn map(fd: i32, size: usize) -> Result<Shared, String> {
        // SAFETY: a fresh shared mapping of a descriptor the parent opened for us; checked.
        let p = unsafe { mmap(std::ptr::null_mut(), size.max(1), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) };
        // SAFETY: closing a descriptor we own; the mapping stays valid.
        unsafe { close(fd) };
        if p as isize == -1 || p.is_null() {
            return Err(format!("cannot map the shared buffer ({size} bytes)"));
        }
        Ok(Shared { base: p as *mut u8, size })
    }

    fn region(&self, spec: &str, elem: usize) -> Result<(usize, usize), String> {
        let (off, len) = spec.split_once(':').ok_or_else(|| format!("bad region {spec}"))?;
        let (off, len): (usize, usize) = (off.parse().map_err(|_| "bad offset")?, len.parse().map_err(|_| "bad length")?);
        let end = len.checked_mul(elem).and_then(|b| b.checked_add(off)).ok_or("region overflows")?;
        if end > self.size || off % elem != 0 {
            return Err(format!("region {spec} outside the shared buffer"));
        }
        Ok((off, len))
    }

    fn f32s(&self, spec: &str) -> Result<&'static mut [f32], String> {
        let (off, len) = self.region(spec, 4)?;
        // SAFETY: inside the mapping (checked), 4-byte aligned (checked); the parent names
        // disjoint regions and writes nothing while a call runs.
        Ok(unsafe { std::slice::from_raw_parts_mut(self.base.add(off) as *mut f32, len) })
    }

    fn u64s(&self, spec: &str) -> Result<&'static [u64], String> {
        let (off, len) = self.region(spec, 8)?;
        // SAFETY: as for `f32s`, 8-byte aligned (checked).
        Ok(unsafe { std::slice::from_raw_parts(self.base.add(off) as *const u64, len) })
    }
}

/// One `call` line's arguments: `dims=a,b,c in=off:len,... out=off:len,... bits=off:len`
/// (a region of length `-` is an absent optional argument).
pub fn call(entry: &Entry, shm: &Shared, get: &dyn Fn(&str) -> Option<String>) -> Result<(), String> {
    let dims: Vec<usize> = get("dims").unwrap_or_default().split(',').filter_map(|x| x.parse().ok()).collect();
    let list = |key: &str| -> Vec<String> {
        get(key).unwrap_or_default().split(',').filter(|s| !s.is_empty()).map(str::to_string).collect()
    };
    let opt = |spec: &String| -> Result<Option<&'static mut [f32]>, String> {
        if spec == "-" { Ok(None) } else { shm.f32s(spec).map(Some) }
    };
    let ins = list("in");
    let outs = list("out");
    let need = |n: usize, what: &str, have: usize| if have == n { Ok(()) } else { Err(format!("{what}: {have} regions, need {n}")) };
    match entry {
        Entry::Sgemm(f) => {
            need(3, "dims", dims.len())?; need(2, "in", ins.len())?; need(1, "out", outs.len())?;
            f(dims[0], dims[1], dims[2], shm.f32s(&ins[0])?, shm.f32s(&ins[1])?, shm.f32s(&outs[0])?);
        }
        Entry::MatmulForward(f) => {
            need(4, "dims", dims.len())?; need(3, "in", ins.len())?; need(1, "out", outs.len())?;
            let bias = opt(&ins[2])?.map(|b| &*b);
            f(shm.f32s(&outs[0])?, shm.f32s(&ins[0])?, shm.f32s(&ins[1])?, bias, dims[0], dims[1], dims[2], dims[3]);
        }
        Entry::MatmulBackward(f) => {
            need(4, "dims", dims.len())?; need(3, "in", ins.len())?; need(3, "out", outs.len())?;
            f(shm.f32s(&outs[0])?, shm.f32s(&outs[1])?, opt(&outs[2])?, shm.f32s(&ins[0])?, shm.f32s(&ins[1])?,
              shm.f32s(&ins[2])?, dims[0], dims[1], dims[2], dims[3]);
        }
        Entry::BinaryGemm(f) => {
            need(3, "dims", dims.len())?; need(1, "in", ins.len())?; need(1, "out", outs.len())?;
            let bits = shm.u64s(&get("bits").unwrap_or_default())?;
            f(dims[0], dims[1], dims[2], shm.f32s(&ins[0])?, bits, shm.f32s(&outs[0])?);
        }
    }
    Ok(())
}
