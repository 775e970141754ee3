//! Variable-length string arrays in attributes (h5py's `labels = ['I', 'II', …]`), which
//! `rust-hdf5` reads only one element of: each element is a global-heap reference
//! (length u32, collection address u64, object index u32) resolved here, bounds-checked.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Largest global heap collection read (they are 4 KiB+ normally).
const MAX_COLLECTION: u64 = 16 << 20;
/// Most heap bytes one attribute may make us read: labels pointing at ever new collections
/// must not turn one attribute into gigabytes of I/O.
const MAX_TOTAL: u64 = 64 << 20;

/// Resolves `raw` (the attribute's bytes: 16 per element) against the file's global heap.
pub fn vlen_strings(path: &Path, raw: &[u8]) -> Result<Vec<String>, String> {
    let mut f = File::open(path).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(raw.len() / 16);
    let mut cache: Option<(u64, Vec<u8>)> = None;
    let mut total = 0u64;
    for e in raw.chunks_exact(16) {
        let len = u32::from_le_bytes(e[0..4].try_into().unwrap()) as usize;
        let addr = u64::from_le_bytes(e[4..12].try_into().unwrap());
        let index = u32::from_le_bytes(e[12..16].try_into().unwrap());
        if cache.as_ref().is_none_or(|(a, _)| *a != addr) {
            let c = collection(&mut f, addr)?;
            total += c.len() as u64;
            if total > MAX_TOTAL {
                return Err(format!(
                    "string attribute reads more than {MAX_TOTAL} heap bytes"
                ));
            }
            cache = Some((addr, c));
        }
        let bytes = object(&cache.as_ref().unwrap().1, index)?;
        let s = bytes
            .get(..len)
            .ok_or("heap object shorter than the string")?;
        out.push(String::from_utf8_lossy(s).into_owned());
    }
    Ok(out)
}

fn collection(f: &mut File, addr: u64) -> Result<Vec<u8>, String> {
    let mut head = [0u8; 16];
    f.seek(SeekFrom::Start(addr))
        .and_then(|_| f.read_exact(&mut head))
        .map_err(|e| format!("global heap at {addr}: {e}"))?;
    if &head[..4] != b"GCOL" {
        return Err(format!("no global heap collection at {addr}"));
    }
    let size = u64::from_le_bytes(head[8..16].try_into().unwrap());
    if !(16..=MAX_COLLECTION).contains(&size) {
        return Err(format!("global heap collection size {size} is implausible"));
    }
    let mut buf = vec![0u8; size as usize];
    f.seek(SeekFrom::Start(addr))
        .and_then(|_| f.read_exact(&mut buf))
        .map_err(|e| format!("global heap at {addr}: {e}"))?;
    Ok(buf)
}

/// Object `index` of a collection: entries of (index u16, refs u16, reserved u32,
/// size u64, data padded to 8 bytes) after the 16-byte collection header.
fn object(c: &[u8], index: u32) -> Result<&[u8], String> {
    let mut pos = 16;
    while pos + 16 <= c.len() {
        let id = u16::from_le_bytes([c[pos], c[pos + 1]]);
        let size = u64::from_le_bytes(c[pos + 8..pos + 16].try_into().unwrap()) as usize;
        if id == 0 {
            break; // free space
        }
        // `size` comes from the file: every sum with it is checked.
        let past = || "global heap object runs past its collection".to_string();
        let end = (pos + 16).checked_add(size).ok_or_else(past)?;
        let data = c.get(pos + 16..end).ok_or_else(past)?;
        if u32::from(id) == index {
            return Ok(data);
        }
        pos = size
            .checked_next_multiple_of(8)
            .and_then(|s| (pos + 16).checked_add(s))
            .ok_or_else(past)?;
    }
    Err(format!("global heap object {index} not found"))
}
