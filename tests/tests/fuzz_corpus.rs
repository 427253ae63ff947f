//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/`) and crash regressions
//! (`fuzz/regressions/<target>/`) through the same `asyncmcp_proto::fuzzing` bodies the
//! cargo-fuzz targets call, on stable Rust: CI needs neither nightly nor libFuzzer.
//!
//! The seeds are written by this file too: `ASYNCMCP_WRITE_SEEDS=1 cargo test -p
//! asyncmcp-tests --test fuzz_corpus` (re)writes the `seed-*` files from the Python
//! vectors and malformed variants of them. Files the fuzzer added are left alone.

use std::fs;
use std::path::{Path, PathBuf};

use asyncmcp_proto::fuzzing::{self, TARGETS, input};
use serde::Deserialize;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries.map(|e| e.unwrap().path()).filter(|p| p.is_file()).collect();
    files.sort();
    files
}

#[test]
fn every_corpus_and_regression_input_replays() {
    for target in TARGETS {
        let corpus = files(&fuzz_dir().join("corpus").join(target));
        assert!(!corpus.is_empty(), "fuzz/corpus/{target}/ is empty: write seeds with ASYNCMCP_WRITE_SEEDS=1");
        let regressions = files(&fuzz_dir().join("regressions").join(target));
        for path in corpus.iter().chain(&regressions) {
            let data = fs::read(path).unwrap();
            // Names the input if its body panics.
            eprintln!("replaying {}", path.display());
            assert!(fuzzing::run(target, &data), "no fuzz body named {target}");
        }
    }
}

#[derive(Deserialize)]
struct Vector {
    body: String,
    attributes: std::collections::BTreeMap<String, SqsAttribute>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SqsAttribute {
    data_type: String,
    string_value: String,
}

/// `(name, data type, value)` of each attribute.
type Attrs = Vec<(String, String, String)>;

/// `(name, body, attributes)` of every Python vector.
fn vectors() -> Vec<(String, String, Attrs)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("vectors/python-asyncmcp");
    files(&dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .map(|path| {
            let vector: Vector = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
            let name = path.file_stem().unwrap().to_string_lossy().into_owned();
            let attrs =
                vector.attributes.into_iter().map(|(k, a)| (k, a.data_type, a.string_value)).collect::<Vec<_>>();
            (name, vector.body, attrs)
        })
        .collect()
}

/// Malformed variants of one vector: `(suffix, body, attributes)`.
fn variants(body: &str, attrs: &[(String, String, String)]) -> Vec<(&'static str, Vec<u8>, Attrs)> {
    let with = |name: &str, value: &str| {
        let mut a: Vec<_> = attrs.iter().filter(|(n, _, _)| n != name).cloned().collect();
        a.push((name.to_owned(), "String".to_owned(), value.to_owned()));
        a
    };
    let bytes = body.as_bytes();
    let mut invalid_utf8 = bytes.to_vec();
    invalid_utf8.insert(bytes.len() / 2, 0xff);
    let nul = body.replacen("\"jsonrpc\"", "\"json\u{1}rpc\"", 1).into_bytes();
    vec![
        ("ok", bytes.to_vec(), attrs.to_vec()),
        ("truncated", bytes[..bytes.len() / 2].to_vec(), attrs.to_vec()),
        ("not-utf8", invalid_utf8, attrs.to_vec()),
        ("control-char", nul, attrs.to_vec()),
        ("batch", format!("[{body}]").into_bytes(), attrs.to_vec()),
        ("fragment", bytes.to_vec(), with("AsyncMcpExt", "seq=1;frag=g1/0/2;caps=frag")),
        ("bad-ext", bytes.to_vec(), with("AsyncMcpExt", "frag=g1/2/2;seq=x")),
        ("bad-type", bytes.to_vec(), with("MessageType", "xml")),
        ("bad-timestamp", bytes.to_vec(), with("Timestamp", "1795709489.")),
        ("bad-session", bytes.to_vec(), with("SessionId", "6063CD47514E409DA7B4F61BE62C3464")),
        ("empty-reply-to", bytes.to_vec(), with("ReplyTo", "")),
    ]
}

/// A deterministic byte string (SplitMix64), for the targets whose input is choices.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    (0..len)
        .map(|_| {
            state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            (z ^ (z >> 31)) as u8
        })
        .collect()
}

fn write(target: &str, name: &str, data: &[u8]) {
    let dir = fuzz_dir().join("corpus").join(target);
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join(format!("seed-{name}")), data).unwrap();
}

#[test]
fn writes_seeds_when_asked() {
    if std::env::var_os("ASYNCMCP_WRITE_SEEDS").is_none_or(|v| v != "1") {
        return;
    }
    for (name, body, attrs) in vectors() {
        for (suffix, body, attrs) in variants(&body, &attrs) {
            let attrs: Vec<(&str, &str, &str)> =
                attrs.iter().map(|(n, t, v)| (n.as_str(), t.as_str(), v.as_str())).collect();
            let data = input::inbound(&body, &attrs).expect("vector attributes fit the input format");
            write("decode_inbound", &format!("{name}-{suffix}"), &data);
            write("roundtrip", &format!("{name}-{suffix}"), &data);
            if suffix == "ok" {
                // Mode 0 of sns_envelope: the envelope as is, and with each key mutated.
                for (target, shape) in [(0u8, 0u8), (1, 8), (2, 8), (3, 2), (4, 0), (5, 4), (6, 1), (7, 2), (8, 0x83)] {
                    let mut seed = vec![0, target, shape];
                    seed.extend_from_slice(&data);
                    write("sns_envelope", &format!("{name}-mutate-{target}-{shape}"), &seed);
                }
            }
        }
    }
    for i in 0..16u64 {
        // Mode 1 of sns_envelope (an envelope built from choices), and pure choices.
        let mut built = noise(i, 48);
        built[0] = 1;
        write("sns_envelope", &format!("built-{i:02}"), &built);
        write("reassembly", &format!("noise-{i:02}"), &noise(100 + i, 32 + 24 * i as usize));
        write("session_machine", &format!("noise-{i:02}"), &noise(200 + i, 24 + 12 * i as usize));
    }
}
