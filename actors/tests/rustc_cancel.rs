//! rustc is a child process the compile owns: dropping the compile (a cancelled job, a
//! deadline) kills it and removes its scratch folder. Alone in its test binary, so no other test's rustc is counted.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use stratagem_actors::validator::sandbox::compile::{CompileLimits, Compiler, Toolchain};

/// The processes descending from this one (children, and their children: rustc runs inside a
/// jail, under bubblewrap) that are not yet dead (zombies excluded), with their command names.
fn live_children() -> Vec<(u32, String)> {
    let me = std::process::id();
    let mut all = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // pid (comm) state ppid …: comm may hold spaces, so split after its closing paren.
        let Some((head, tail)) = stat.rsplit_once(')') else {
            continue;
        };
        let comm = head.split_once('(').map(|(_, c)| c).unwrap_or("");
        let mut fields = tail.split_whitespace();
        let state = fields.next().unwrap_or("").to_string();
        let ppid: u32 = fields.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        all.push((pid, ppid, comm.to_string(), state));
    }
    let mut family = vec![me];
    let mut out = Vec::new();
    while let Some(parent) = family.pop() {
        for (pid, ppid, comm, state) in &all {
            if *ppid == parent {
                family.push(*pid);
                if state != "Z" {
                    out.push((*pid, comm.clone()));
                }
            }
        }
    }
    out
}

/// Whether `pid` exists and is not a zombie.
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|stat| {
            stat.rsplit_once(')')
                .map(|(_, t)| t.trim_start().to_string())
        })
        .is_some_and(|tail| !tail.starts_with('Z'))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_compile_kills_its_rustc() {
    let cache =
        PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("cancel-{}", uuid::Uuid::now_v7()));
    let compiler = Compiler::new(
        Toolchain::detect().expect("rustc"),
        &cache,
        CompileLimits::default(),
    );
    let mut source = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/strategies/clean_momentum.rs"),
    )
    .expect("the clean strategy");
    // Thousands of optimised functions: rustc needs many seconds for them.
    for i in 0..6000 {
        source.push_str(&format!(
            "pub fn pad{i}(x: f64) -> f64 {{ let mut y = x; for k in 0..{} {{ y = y * 1.0001 + (k as f64) / {}.0; }} y }}\n",
            i % 7 + 2,
            i + 1
        ));
    }
    let mut compile = Box::pin(compiler.compile_async(&source, "CleanMomentumStrategy"));
    // Until rustc works on the strategy (after the SDK), then a little longer.
    let began = Instant::now();
    let mut seen: Option<Instant> = None;
    // Every process seen on the way: a jailed rustc whose bubblewrap dies is no longer our
    // descendant, so each is followed by its pid.
    let mut watched = std::collections::BTreeSet::new();
    while seen.is_none_or(|at| at.elapsed() < Duration::from_millis(500)) {
        assert!(
            began.elapsed() < Duration::from_secs(60),
            "rustc never started"
        );
        tokio::select! {
            done = &mut compile => panic!("compiled before it could be dropped: {:?}", done.map(|w| w.len())),
            _ = tokio::time::sleep(Duration::from_millis(20)) => {}
        }
        let family = live_children();
        watched.extend(family.iter().map(|(pid, _)| *pid));
        let rustc = family.iter().any(|(_, c)| c.contains("rustc"));
        if rustc && seen.is_none() && began.elapsed() > Duration::from_millis(1500) {
            seen = Some(Instant::now());
        }
    }
    drop(compile);
    let deadline = Instant::now() + Duration::from_secs(1);
    loop {
        let mut left: Vec<_> = live_children()
            .into_iter()
            .filter(|(_, c)| c.contains("rustc") || c == "sh" || c == "bwrap")
            .collect();
        left.extend(
            watched
                .iter()
                .filter(|pid| alive(**pid))
                .map(|pid| (*pid, "watched".into())),
        );
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "rustc outlived its dropped compile: {left:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Its scratch folder went with it.
    let scratch: Vec<_> = std::fs::read_dir(&cache)
        .expect("cache")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("work-"))
        .map(|e| e.path())
        .collect();
    assert!(scratch.is_empty(), "left behind: {scratch:?}");
    let _ = std::fs::remove_dir_all(&cache);
}
