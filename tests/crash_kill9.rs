//! "Don't do what can't be tested to be correct": the crash-safety promise of the event log,
//! tested by SIGKILLing a real stratagem process at random moments while it appends batches and
//! updates its projections, then reopening the same data directory.
//!
//! After every kill: every acknowledged event is there, no batch is partly visible, the chain
//! verifies, and the projections (repaired on open) equal a fresh replay of the log.
//! `STRATAGEM_CRASH_TRIALS` sets the number of trials (default 20), `STRATAGEM_CRASH_SEED` the
//! seed of the kill times (printed, so a failure can be replayed).

mod common;

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use common::{bin, ok};
use stratagem_events::audit::verify_chain;
use stratagem_events::{iter_from, Event, EventStore, SledEventStore};

#[derive(Debug)]
struct Ack {
    batch: u64,
    first: u64,
    last: u64,
}

fn parse_ack(line: &str) -> Option<Ack> {
    let mut parts = line.strip_prefix("ack ")?.split(' ');
    Some(Ack {
        batch: parts.next()?.parse().ok()?,
        first: parts.next()?.parse().ok()?,
        last: parts.next()?.parse().ok()?,
    })
}

/// (batch, index, size) of a load event, from its external id `batch:index:size`.
fn load_position(event: &Event) -> (u64, u64, u64) {
    let Event::OpportunityDiscovered(o) = event else {
        panic!("unexpected event {event:?}")
    };
    let id = o
        .external_id
        .as_deref()
        .expect("load events carry an external id");
    let nums: Vec<u64> = id.split(':').map(|n| n.parse().unwrap()).collect();
    (nums[0], nums[1], nums[2])
}

#[test]
fn sigkill_at_random_moments_loses_no_acknowledged_event_and_no_batch_half() {
    let trials: u32 = std::env::var("STRATAGEM_CRASH_TRIALS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let seed: u64 = std::env::var("STRATAGEM_CRASH_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("crash test: {trials} trials, STRATAGEM_CRASH_SEED={seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path().join("data");
    let mut total_acked = 0u64;
    let mut killed_mid_run = 0;

    for trial in 0..trials {
        let mut child = bin()
            .arg("--data-dir")
            .arg(&d)
            .args([
                "debug",
                "append-load",
                "--batches",
                "1000000",
                "--max-batch",
                "7",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
                .filter_map(|l| parse_ack(&l))
                .collect::<Vec<_>>()
        });
        std::thread::sleep(Duration::from_millis(rng.u64(30..400)));
        if child.try_wait().unwrap().is_none() {
            killed_mid_run += 1;
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let acks = reader.join().unwrap();
        total_acked += acks.iter().map(|a| a.last - a.first + 1).sum::<u64>();

        let store = SledEventStore::open(d.join("events"))
            .unwrap_or_else(|e| panic!("trial {trial}: reopen failed: {e}"));
        // Every acknowledged batch is there, whole, with the events it was given.
        for ack in &acks {
            let events = store
                .read(ack.first, (ack.last - ack.first + 1) as usize)
                .unwrap();
            assert_eq!(
                events.len() as u64,
                ack.last - ack.first + 1,
                "trial {trial}: acknowledged {ack:?} is missing events"
            );
            for (i, rec) in events.iter().enumerate() {
                let (batch, index, size) = load_position(&rec.event().unwrap());
                assert_eq!(
                    (batch, index, size),
                    (ack.batch, i as u64, ack.last - ack.first + 1),
                    "trial {trial}: {ack:?}"
                );
            }
        }
        // No batch is partly visible anywhere in the log, including an unacknowledged tail.
        let mut expect_next_index = 0;
        let mut current = (0, 0);
        for rec in iter_from(&store, 1) {
            let (batch, index, size) = load_position(&rec.unwrap().event().unwrap());
            if expect_next_index == 0 {
                assert_eq!(index, 0, "trial {trial}: a batch starts in its middle");
                current = (batch, size);
            } else {
                assert_eq!(
                    (batch, size, index),
                    (current.0, current.1, expect_next_index),
                    "trial {trial}: batch interleaved"
                );
            }
            expect_next_index = (index + 1) % size;
        }
        assert_eq!(
            expect_next_index, 0,
            "trial {trial}: the last batch is cut short"
        );
        let chain = verify_chain(&store).unwrap();
        assert_eq!(chain.first_break, None, "trial {trial}");
        assert_eq!(chain.verified, store.head().seq);
        drop(store);
        let replay = ok(&d, &["audit", "replay"]);
        assert!(replay.starts_with("identical"), "trial {trial}: {replay}");
    }
    eprintln!("crash test: {total_acked} acknowledged events over {trials} trials, {killed_mid_run} killed mid-run");
    assert!(total_acked > 0, "no trial got as far as an acknowledgement");
    assert!(
        killed_mid_run >= trials / 2,
        "most kills should land while the process works"
    );
}
