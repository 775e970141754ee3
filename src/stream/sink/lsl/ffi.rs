//! The few liblsl C functions the outlet needs, loaded at run time (`libloading`), so a
//! build needs no liblsl and only `--to lsl:` does. All `unsafe` of the LSL sink is here.

use libloading::{Library, Symbol};
use std::ffi::{c_char, c_double, c_float, c_int, c_ulong, c_void, CString};
use std::path::PathBuf;

/// `cft_float32` in liblsl's `lsl_channel_format_t`.
const CF_FLOAT32: c_int = 1;
/// `cft_string` in liblsl's `lsl_channel_format_t`.
const CF_STRING: c_int = 3;

type CreateInfo = unsafe extern "C" fn(
    *const c_char,
    *const c_char,
    c_int,
    c_double,
    c_int,
    *const c_char,
) -> *mut c_void;
type GetDesc = unsafe extern "C" fn(*mut c_void) -> *mut c_void;
type AppendChild = unsafe extern "C" fn(*mut c_void, *const c_char) -> *mut c_void;
type AppendValue = unsafe extern "C" fn(*mut c_void, *const c_char, *const c_char) -> *mut c_void;
type CreateOutlet = unsafe extern "C" fn(*mut c_void, c_int, c_int) -> *mut c_void;
type PushChunk =
    unsafe extern "C" fn(*mut c_void, *const c_float, c_ulong, c_double, c_int) -> c_int;
type PushStr = unsafe extern "C" fn(*mut c_void, *const *const c_char, c_double) -> c_int;
type LocalClock = unsafe extern "C" fn() -> c_double;
type Destroy = unsafe extern "C" fn(*mut c_void);

/// Where liblsl is looked for, in order: `$BIOWAVE_LIBLSL`, the system loader, pylsl's copy.
pub fn candidates() -> Vec<PathBuf> {
    if let Some(p) = std::env::var_os("BIOWAVE_LIBLSL") {
        return vec![PathBuf::from(p)];
    }
    let mut v = vec![PathBuf::from("liblsl.so.2"), PathBuf::from("liblsl.so")];
    let py = std::process::Command::new("python3")
        .args([
            "-c",
            "import pylsl, os; print(os.path.dirname(pylsl.__file__))",
        ])
        .output();
    if let Ok(o) = py {
        let dir = String::from_utf8_lossy(&o.stdout).trim().to_string();
        if o.status.success() && !dir.is_empty() {
            v.push(PathBuf::from(dir).join("lib").join("liblsl.so"));
        }
    }
    v
}

/// The loaded library (cloned for a second outlet without loading it again).
#[derive(Clone)]
pub struct Lsl {
    lib: std::sync::Arc<Library>,
}

/// An outlet and the stream info it was made from.
pub struct Outlet {
    lsl: Lsl,
    info: *mut c_void,
    outlet: *mut c_void,
}

// SAFETY: liblsl outlets are thread-safe objects (pushes may come from any thread); the
// pointers are owned by this struct alone and freed once, in Drop.
unsafe impl Send for Outlet {}

fn cstr(s: &str) -> CString {
    CString::new(s.replace('\0', " ")).unwrap_or_default()
}

impl Lsl {
    /// Loads the first library of `candidates()` that opens; the error lists the tries.
    pub fn load() -> Result<Lsl, String> {
        let mut tried = Vec::new();
        for p in candidates() {
            // SAFETY: loading liblsl runs its static initialisers, which have no
            // preconditions; the symbols are checked by name before use.
            match unsafe { Library::new(&p) } {
                Ok(lib) => return Ok(Lsl { lib: lib.into() }),
                Err(e) => tried.push(format!("{} ({e})", p.display())),
            }
        }
        Err(format!(
            "liblsl not found (tried: {}); `pip install pylsl` ships it, or set BIOWAVE_LIBLSL=/path/liblsl.so",
            tried.join("; ")
        ))
    }

    fn sym<T>(&self, name: &[u8]) -> Result<Symbol<'_, T>, String> {
        // SAFETY: each type alias above matches liblsl's C prototype of that name.
        unsafe { self.lib.get(name) }
            .map_err(|e| format!("liblsl lacks {}: {e}", String::from_utf8_lossy(name)))
    }

    /// `lsl_local_clock()`: seconds on LSL's monotonic clock.
    pub fn local_clock(&self) -> Result<f64, String> {
        let f: Symbol<LocalClock> = self.sym(b"lsl_local_clock\0")?;
        // SAFETY: no arguments, no preconditions.
        Ok(unsafe { f() })
    }
}

/// What an outlet declares: name, content type, rate, channels (label, unit).
pub struct Declaration<'a> {
    /// Stream name.
    pub name: &'a str,
    /// Content type (ECG, EEG, …; `Markers` for an event stream).
    pub kind: &'a str,
    /// Nominal sample rate; 0 for an irregular stream (markers).
    pub rate: f64,
    /// Strings (a marker stream) rather than float32 samples.
    pub strings: bool,
    /// Source id (stable per name, so inlets recover after a restart).
    pub source_id: &'a str,
    /// (label, unit) per channel.
    pub channels: Vec<(&'a str, &'a str)>,
}

impl Outlet {
    /// Creates the stream info with its channel description and opens the outlet.
    pub fn open(lsl: Lsl, d: &Declaration) -> Result<Outlet, String> {
        let create: Symbol<CreateInfo> = lsl.sym(b"lsl_create_streaminfo\0")?;
        let desc: Symbol<GetDesc> = lsl.sym(b"lsl_get_desc\0")?;
        let child: Symbol<AppendChild> = lsl.sym(b"lsl_append_child\0")?;
        let value: Symbol<AppendValue> = lsl.sym(b"lsl_append_child_value\0")?;
        let outlet: Symbol<CreateOutlet> = lsl.sym(b"lsl_create_outlet\0")?;
        let (name, kind, sid) = (cstr(d.name), cstr(d.kind), cstr(d.source_id));
        // SAFETY: valid NUL-terminated strings that outlive the calls; liblsl copies them.
        let info = unsafe {
            create(
                name.as_ptr(),
                kind.as_ptr(),
                d.channels.len() as c_int,
                d.rate,
                if d.strings { CF_STRING } else { CF_FLOAT32 },
                sid.as_ptr(),
            )
        };
        if info.is_null() {
            return Err("lsl_create_streaminfo failed".into());
        }
        let s = |t: &str| cstr(t);
        // SAFETY: `info` is a live stream info; every xml pointer comes from liblsl and
        // every string is NUL-terminated and outlives its call.
        let out = unsafe {
            let root = desc(info);
            let chans = child(root, s("channels").as_ptr());
            for (label, unit) in &d.channels {
                let ch = child(chans, s("channel").as_ptr());
                value(ch, s("label").as_ptr(), s(label).as_ptr());
                value(ch, s("unit").as_ptr(), s(unit).as_ptr());
                value(ch, s("type").as_ptr(), s(d.kind).as_ptr());
            }
            let acq = child(root, s("acquisition").as_ptr());
            value(acq, s("manufacturer").as_ptr(), s("biowave").as_ptr());
            outlet(info, 0, 360)
        };
        if out.is_null() {
            return Err("lsl_create_outlet failed".into());
        }
        Ok(Outlet {
            lsl,
            info,
            outlet: out,
        })
    }

    /// Pushes interleaved frames whose last sample is at `last_ts` (LSL clock).
    pub fn push(&mut self, frames: &[f32], last_ts: f64) -> Result<(), String> {
        let push: Symbol<PushChunk> = self.lsl.sym(b"lsl_push_chunk_ftp\0")?;
        // SAFETY: `frames` is a live slice of `len` floats; the outlet is live.
        let rc = unsafe {
            push(
                self.outlet,
                frames.as_ptr(),
                frames.len() as c_ulong,
                last_ts,
                1,
            )
        };
        if rc < 0 {
            return Err(format!("lsl_push_chunk_ftp failed with code {rc}"));
        }
        Ok(())
    }

    /// Pushes one string sample (a marker) stamped `ts` (LSL clock) to a string outlet.
    pub fn push_str(&mut self, text: &str, ts: f64) -> Result<(), String> {
        let push: Symbol<PushStr> = self.lsl.sym(b"lsl_push_sample_strt\0")?;
        let c = cstr(text);
        let one = [c.as_ptr()];
        // SAFETY: a live outlet of one string channel and one NUL-terminated string that
        // outlives the call (liblsl copies it).
        let rc = unsafe { push(self.outlet, one.as_ptr(), ts) };
        if rc < 0 {
            return Err(format!("lsl_push_sample_strt failed with code {rc}"));
        }
        Ok(())
    }

    /// The LSL clock, for timestamps.
    pub fn local_clock(&self) -> Result<f64, String> {
        self.lsl.local_clock()
    }
}

impl Drop for Outlet {
    fn drop(&mut self) {
        let outlet: Result<Symbol<Destroy>, _> = self.lsl.sym(b"lsl_destroy_outlet\0");
        let info: Result<Symbol<Destroy>, _> = self.lsl.sym(b"lsl_destroy_streaminfo\0");
        // SAFETY: both pointers were created by liblsl, are live, and are freed only here.
        unsafe {
            if let Ok(f) = outlet {
                f(self.outlet);
            }
            if let Ok(f) = info {
                f(self.info);
            }
        }
    }
}
