//! Helpers shared by the integration tests: running the Python cross-check scripts.
#![allow(dead_code)] // each test crate uses its own subset

use std::ffi::OsStr;
use std::path::Path;
use std::process::Command;

/// Runs `python3 tests/py/SCRIPT args…` and returns its stdout. A missing python, a
/// missing module or a failing check fails the calling test with the script's output.
pub fn python<I, S>(script: &str, args: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let o = Command::new("python3")
        .arg(Path::new("tests/py").join(script))
        .args(args)
        .output()
        .expect("python3 is needed (pip install -r tests/requirements.txt)");
    let out = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        o.status.success(),
        "{script} failed:\n{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    out
}

/// What pyedflib sees in an EDF/BDF file (tests/py/edf_summary.py), as JSON.
pub fn pyedflib_summary(path: &Path, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![path.as_os_str()];
    args.extend(extra.iter().map(OsStr::new));
    serde_json::from_str(&python("edf_summary.py", args)).unwrap()
}
