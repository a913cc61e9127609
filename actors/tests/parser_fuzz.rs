//! No parser panics, whatever the bytes: random bytes, and every shipped recording cut short,
//! with bytes flipped, spliced into another, or nested deeply. Each input either parses or is
//! a clear error. Seeded, so a failure reproduces.

use std::path::PathBuf;

use stratagem_actors::sources::{arxiv, defillama, edgar, manual, network, reddit, twitter, xml};

/// A parser under test: says whether the input parsed.
type Parser = Box<dyn Fn(&[u8]) -> bool>;

fn parsers() -> Vec<(&'static str, Parser)> {
    vec![
        ("arxiv", Box::new(|b: &[u8]| arxiv::parse(b).is_ok())),
        ("reddit", Box::new(|b: &[u8]| reddit::parse(b).is_ok())),
        ("twitter", Box::new(|b: &[u8]| twitter::parse(b).is_ok())),
        (
            "defillama",
            Box::new(|b: &[u8]| defillama::parse(b).is_ok()),
        ),
        ("edgar", Box::new(|b: &[u8]| edgar::parse(b).is_ok())),
        ("network", Box::new(|b: &[u8]| network::parse(b).is_ok())),
        (
            "manual json",
            Box::new(|b: &[u8]| manual::parse("x.json", b).is_ok()),
        ),
        (
            "manual md",
            Box::new(|b: &[u8]| manual::parse("x.md", b).is_ok()),
        ),
    ]
}

fn recordings() -> Vec<Vec<u8>> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/sources");
    let mut out = Vec::new();
    for dir in std::fs::read_dir(&root).unwrap() {
        let dir = dir.unwrap().path();
        if !dir.is_dir() {
            continue;
        }
        for f in std::fs::read_dir(dir).unwrap() {
            out.push(std::fs::read(f.unwrap().path()).unwrap());
        }
    }
    assert!(out.len() >= 14, "{} recordings", out.len());
    out
}

fn feed_all(input: &[u8]) {
    for (name, parse) in parsers() {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| parse(input)));
        assert!(
            outcome.is_ok(),
            "{name} panicked on {:?}",
            String::from_utf8_lossy(&input[..input.len().min(300)])
        );
    }
}

#[test]
fn random_bytes_never_panic() {
    let mut rng = fastrand::Rng::with_seed(0x5eed);
    for _ in 0..2_000 {
        let len = rng.usize(0..512);
        let bytes: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
        feed_all(&bytes);
        // Random text made of the format's own characters reaches deeper into the parsers.
        let alphabet = b"<>/=\"' :{}[],.-0123456789abcdefxmlnsfeedentryidtitle&;#\n";
        let text: Vec<u8> = (0..len)
            .map(|_| alphabet[rng.usize(..alphabet.len())])
            .collect();
        feed_all(&text);
    }
}

#[test]
fn damaged_recordings_never_panic() {
    let mut rng = fastrand::Rng::with_seed(42);
    let recs = recordings();
    for rec in &recs {
        feed_all(rec);
        for _ in 0..40 {
            let mut m = rec.clone();
            match rng.u8(0..4) {
                0 => m.truncate(rng.usize(0..=m.len())),
                1 => {
                    for _ in 0..rng.usize(1..20) {
                        if !m.is_empty() {
                            let i = rng.usize(..m.len());
                            m[i] = rng.u8(..);
                        }
                    }
                }
                2 => {
                    let other = &recs[rng.usize(..recs.len())];
                    let cut = rng.usize(0..=m.len());
                    let from = rng.usize(0..=other.len());
                    m.truncate(cut);
                    m.extend_from_slice(&other[from..]);
                }
                _ => {
                    let at = rng.usize(0..=m.len());
                    let junk: Vec<u8> = (0..rng.usize(1..64)).map(|_| rng.u8(..)).collect();
                    m.splice(at..at, junk);
                }
            }
            feed_all(&m);
        }
    }
}

#[test]
fn deep_nesting_and_huge_inputs_are_refused_not_crashed() {
    let deep_xml = format!(
        "<feed xmlns=\"http://www.w3.org/2005/Atom\">{}",
        "<entry>".repeat(100_000)
    );
    feed_all(deep_xml.as_bytes());
    assert!(xml::parse(deep_xml.as_bytes())
        .unwrap_err()
        .to_string()
        .contains("deeper"));
    let deep_json = "[".repeat(100_000);
    feed_all(deep_json.as_bytes());
    let wide = format!(
        "<feed xmlns=\"http://www.w3.org/2005/Atom\">{}</feed>",
        "<x/>".repeat(600_000)
    );
    assert!(xml::parse(wide.as_bytes())
        .unwrap_err()
        .to_string()
        .contains("elements"));
}
