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

/// Writes what biowave holds for `rec` where edf_check.py expects it.
pub fn dump(rec: &biowave::record::Record, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    let channels: Vec<_> = rec
        .channels
        .iter()
        .map(|c| {
            serde_json::json!({"label": c.meta.label, "unit": c.meta.unit,
                "sample_rate": c.meta.sample_rate, "n_samples": c.samples.len()})
        })
        .collect();
    let ann: Vec<_> = rec
        .meta
        .annotations
        .iter()
        .map(|a| serde_json::json!([a.onset, a.duration, a.text]))
        .collect();
    let meta = serde_json::json!({"channels": channels, "annotations": ann,
        "duration_s": rec.duration_s()});
    std::fs::write(dir.join("meta.json"), meta.to_string()).unwrap();
    for (i, c) in rec.channels.iter().enumerate() {
        let bytes: Vec<u8> = c.samples.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(dir.join(format!("ch{i}.f32")), bytes).unwrap();
    }
}
