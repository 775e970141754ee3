//! Mutation tests over the fuzz harness (src/fuzz.rs), seeded from the real files we ship:
//! every mutated EDF, BDF, HDF5, CSV, scenario and checkpoint config must come back as `Ok`
//! or a clean error, never a panic. Inputs the fuzzers once crashed on are replayed from
//! tests/fuzz-regressions/TARGET/. (cargo-fuzz runs the same entry points for longer:
//! scripts/fuzz.sh.)

use biowave::fuzz;
use proptest::prelude::*;
use std::path::Path;

/// One edit of a byte string; positions wrap around its length.
#[derive(Debug, Clone)]
enum Edit {
    /// Overwrite one byte.
    Byte(u32, u8),
    /// Overwrite up to eight bytes with a little-endian integer (sizes, offsets, counts).
    Word(u32, u64),
    /// Cut the input here.
    Truncate(u32),
    /// Insert bytes here.
    Insert(u32, Vec<u8>),
    /// Write an ASCII number here (EDF headers and text formats are ASCII).
    Number(u32, i64),
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        (any::<u32>(), any::<u8>()).prop_map(|(p, b)| Edit::Byte(p, b)),
        (any::<u32>(), any::<u64>()).prop_map(|(p, w)| Edit::Word(p, w)),
        any::<u32>().prop_map(Edit::Truncate),
        (any::<u32>(), prop::collection::vec(any::<u8>(), 1..16))
            .prop_map(|(p, b)| Edit::Insert(p, b)),
        (any::<u32>(), any::<i64>()).prop_map(|(p, n)| Edit::Number(p, n)),
    ]
}

/// Applies `edits`; half of the positions land in the first `head` bytes, where headers
/// and metadata live.
fn mutate(seed: &[u8], edits: &[Edit], head: usize) -> Vec<u8> {
    let mut v = seed.to_vec();
    for e in edits {
        let at = |p: u32, len: usize| {
            let span = if p.is_multiple_of(2) {
                head.min(len)
            } else {
                len
            };
            (p as usize / 2) % span.max(1)
        };
        match e {
            Edit::Byte(p, b) if !v.is_empty() => {
                let i = at(*p, v.len());
                v[i] = *b;
            }
            Edit::Word(p, w) if v.len() >= 8 => {
                let i = at(*p, v.len() - 7);
                v[i..i + 8].copy_from_slice(&w.to_le_bytes());
            }
            Edit::Truncate(p) => {
                let i = at(*p, v.len() + 1);
                v.truncate(i);
            }
            Edit::Insert(p, b) => {
                let i = at(*p, v.len() + 1);
                v.splice(i..i, b.iter().copied());
            }
            Edit::Number(p, n) if !v.is_empty() => {
                let s = n.to_string().into_bytes();
                let i = at(*p, v.len());
                let end = (i + s.len()).min(v.len());
                v[i..end].copy_from_slice(&s[..end - i]);
            }
            _ => {}
        }
    }
    v
}

fn seed(path: &str) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A small real CSV: 4 s of MIT-BIH 208 as biowave writes it.
fn csv_seed(dir: &Path) -> Vec<u8> {
    let rec = biowave::io::open(Path::new("signals/mitdb208.edf"))
        .and_then(|mut r| {
            r.read(&biowave::io::Selection {
                end_s: Some(4.0),
                ..Default::default()
            })
        })
        .unwrap();
    let p = dir.join("seed.csv");
    biowave::io::save(&rec, &p).unwrap();
    std::fs::read(p).unwrap()
}

fn config() -> ProptestConfig {
    ProptestConfig {
        // PROPTEST_CASES=20000 for a longer local run.
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(192),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn mutated_edf_and_bdf_never_panic(
        which in 0usize..4,
        edits in prop::collection::vec(edit(), 1..6),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (file, ext) = [
            ("signals/mitdb208.edf", "edf"),
            ("signals/ecg12_sample1.edf", "edf"),
            ("signals/phyaat_eeg14.edf", "edf"),
            ("signals/phyaat_eeg14.bdf", "bdf"),
        ][which];
        let bytes = mutate(&seed(file), &edits, 256 * 16);
        let _ = fuzz::read_file(&bytes, ext, dir.path());
    }

    #[test]
    fn mutated_hdf5_never_panics(edits in prop::collection::vec(edit(), 1..6)) {
        let dir = tempfile::tempdir().unwrap();
        let bytes = mutate(&seed("signals/ecg12_3x4096.h5"), &edits, 4096);
        let _ = fuzz::read_file(&bytes, "h5", dir.path());
    }

    #[test]
    fn mutated_csv_never_panics(edits in prop::collection::vec(edit(), 1..6)) {
        let dir = tempfile::tempdir().unwrap();
        let bytes = mutate(&csv_seed(dir.path()), &edits, 512);
        let _ = fuzz::read_file(&bytes, "csv", dir.path());
    }

    #[test]
    fn mutated_scenarios_never_panic(
        which in 0usize..2,
        edits in prop::collection::vec(edit(), 1..4),
    ) {
        let file = ["fuzz/seeds/scenario/two_streams.toml", "fuzz/seeds/scenario/learned.toml"][which];
        let _ = fuzz::scenario(&mutate(&seed(file), &edits, 1 << 16));
    }

    #[test]
    fn scenarios_with_extreme_values_are_refused_cleanly(
        rate in prop_oneof![Just(f64::NAN), Just(1e300), Just(-1.0), 1.0f64..2e6],
        channels in prop_oneof![Just(0usize), Just(usize::MAX), 1usize..5000],
        block_ms in prop_oneof![Just(0u32), Just(u32::MAX), 1u32..20_000],
        duration in prop_oneof![Just("1e308h"), Just("-5s"), Just("nan"), Just("10s"), Just("")],
    ) {
        let text = format!(
            "[[stream]]\nmodel = \"sine\"\nblock_ms = {block_ms}\nduration = \"{duration}\"\n\
             params = {{ rate = {rate}, channels = {channels} }}\n"
        );
        let r = fuzz::scenario(text.as_bytes());
        // A sine of at most 4096 channels at ≤ 1 MHz in blocks of ≤ 16 Mi samples is fine.
        let sane = rate.is_finite() && rate > 0.0 && rate <= 1e6 && (1..=4096).contains(&channels)
            && (1..=10_000).contains(&block_ms) && (duration == "10s")
            && ((rate * block_ms as f64 / 1000.0).round().max(1.0) as usize) * channels <= 16 << 20;
        prop_assert_eq!(r.is_ok(), sane, "{} → {:?}", text, r.err());
    }

    #[test]
    fn mutated_checkpoint_configs_never_panic(
        which in 0usize..2,
        edits in prop::collection::vec(edit(), 1..4),
    ) {
        let file = ["models/ecg-vae/config.json", "models/eeg-vae/config.json"][which];
        let _ = fuzz::checkpoint_config(&mutate(&seed(file), &edits, 1 << 12));
    }

    /// Replacing any one number in a real config.json by an extreme value is either still
    /// a valid config or refused with an error naming the file.
    #[test]
    fn checkpoint_numbers_replaced_by_extremes(
        which in 0usize..2,
        k in any::<prop::sample::Index>(),
        v in prop_oneof![Just("0"), Just("-1"), Just("1e308"), Just("18446744073709551615"),
                         Just("4294967296"), Just("0.5"), Just("null")],
    ) {
        let file = ["models/ecg-vae/config.json", "models/eeg-vae/config.json"][which];
        let text = String::from_utf8(seed(file)).unwrap();
        let re_numbers: Vec<(usize, usize)> = numbers(&text);
        let (a, b) = re_numbers[k.index(re_numbers.len())];
        let edited = format!("{}{}{}", &text[..a], v, &text[b..]);
        if let Err(e) = fuzz::checkpoint_config(edited.as_bytes()) {
            prop_assert!(e.to_string().contains("config.json"), "{}", e);
        }
    }
}

/// Byte ranges of the numbers in a JSON text.
fn numbers(text: &str) -> Vec<(usize, usize)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let starts =
            b[i].is_ascii_digit() || (b[i] == b'-' && b.get(i + 1).is_some_and(u8::is_ascii_digit));
        if starts && (i == 0 || !b[i - 1].is_ascii_alphanumeric()) {
            let j = (i + 1..b.len())
                .find(|&j| !(b[j].is_ascii_digit() || b"+-.eE".contains(&b[j])))
                .unwrap_or(b.len());
            out.push((i, j));
            i = j;
        } else {
            i += 1;
        }
    }
    out
}

/// Every input a fuzzer once crashed, hung or ran out of memory on is replayed here.
#[test]
fn fuzz_regressions_replay_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut replayed = 0;
    for target in ["edf", "bdf", "hdf5", "csv", "scenario", "checkpoint"] {
        let Ok(entries) = std::fs::read_dir(Path::new("tests/fuzz-regressions").join(target))
        else {
            continue;
        };
        for e in entries {
            let path = e.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            let r = match target {
                "scenario" => fuzz::scenario(&bytes),
                "checkpoint" => fuzz::checkpoint_config(&bytes),
                "hdf5" => fuzz::read_file(&bytes, "h5", dir.path()),
                ext => fuzz::read_file(&bytes, ext, dir.path()),
            };
            // Hand-made regressions are invalid inputs: refused. libFuzzer's own artifacts
            // (crash-…, oom-…, timeout-…) only have to come back without a panic.
            let fuzzer_made = ["crash-", "oom-", "timeout-", "leak-"]
                .iter()
                .any(|p| path.file_name().unwrap().to_string_lossy().starts_with(p));
            assert!(
                fuzzer_made || r.is_err(),
                "{}: should be refused",
                path.display()
            );
            replayed += 1;
        }
    }
    assert!(replayed >= 5, "the regression corpus is there: {replayed}");
    eprintln!("replayed {replayed} fuzz regression inputs");
}

/// The unmutated seeds themselves read and parse: the mutation tests start from valid input.
#[test]
fn seeds_are_valid() {
    let dir = tempfile::tempdir().unwrap();
    for (f, ext) in [
        ("signals/mitdb208.edf", "edf"),
        ("signals/phyaat_eeg14.bdf", "bdf"),
        ("signals/ecg12_3x4096.h5", "h5"),
    ] {
        fuzz::read_file(&seed(f), ext, dir.path()).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
    fuzz::read_file(&csv_seed(dir.path()), "csv", dir.path()).unwrap();
    for f in [
        "fuzz/seeds/scenario/two_streams.toml",
        "fuzz/seeds/scenario/learned.toml",
    ] {
        fuzz::scenario(&seed(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
    for f in ["models/ecg-vae/config.json", "models/eeg-vae/config.json"] {
        fuzz::checkpoint_config(&seed(f)).unwrap_or_else(|e| panic!("{f}: {e}"));
    }
}
