//! What only the durable store has to keep: its contents across reopening, its lock, and its
//! refusals of damaged files. Each test works on a real sled directory.

use stratagem_events::audit::verify_chain;
use stratagem_events::record::encode_record;
use stratagem_events::{
    ActorStarted, AppendRequest, Event, EventStore, Projections, SledEventStore, StoreError,
    SCHEMA_VERSION,
};

fn actor(name: &str) -> Event {
    Event::from(ActorStarted { actor: name.into() })
}

async fn store_with(dir: &std::path::Path, n: usize) -> SledEventStore {
    let store = SledEventStore::open(dir).unwrap();
    for i in 0..n {
        store
            .append(AppendRequest::one(actor(&format!("a{i}"))).idempotent(format!("key-{i}")))
            .await
            .unwrap();
    }
    store
}

/// Opens sled directly, as an attacker or a disk fault would reach the bytes.
fn raw_events(dir: &std::path::Path) -> (sled::Db, sled::Tree) {
    // sled's background flusher can hold the dropped store's file lock for a moment.
    let mut tries = 0;
    let db = loop {
        match sled::open(dir.join("db")) {
            Ok(db) => break db,
            Err(e) if tries < 100 && e.to_string().contains("could not acquire lock") => {
                tries += 1;
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Err(e) => panic!("{e}"),
        }
    };
    let tree = db.open_tree("events").unwrap();
    (db, tree)
}

#[tokio::test]
async fn reopening_keeps_events_head_and_idempotency_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let head = store_with(tmp.path(), 5).await.head();
    let store = SledEventStore::open(tmp.path()).unwrap();
    assert_eq!(store.head(), head);
    let retry = store
        .append(AppendRequest::one(actor("a2")).idempotent("key-2"))
        .await
        .unwrap();
    assert_eq!((retry.first_seq, retry.deduplicated), (3, true));
    let next = store
        .append(AppendRequest::one(actor("new")).expecting(6))
        .await
        .unwrap();
    assert_eq!(next.first_seq, 6);
    assert_eq!(verify_chain(&store).unwrap().verified, 6);
}

#[tokio::test]
async fn a_second_opener_is_told_the_directory_is_in_use() {
    let tmp = tempfile::tempdir().unwrap();
    let _held = SledEventStore::open(tmp.path()).unwrap();
    let err = SledEventStore::open(tmp.path()).unwrap_err();
    assert!(matches!(err, StoreError::Locked { .. }), "{err}");
    assert!(
        err.to_string()
            .contains("in use by another stratagem process"),
        "{err}"
    );
}

#[tokio::test]
async fn overwritten_event_bytes_are_named_by_sequence() {
    let tmp = tempfile::tempdir().unwrap();
    drop(store_with(tmp.path(), 6).await);
    {
        let (db, tree) = raw_events(tmp.path());
        let mut bytes = tree.get(3u64.to_be_bytes()).unwrap().unwrap().to_vec();
        let at = bytes.len() - 65; // the last payload byte, just before the two hashes
        bytes[at] ^= 0x01;
        tree.insert(3u64.to_be_bytes(), bytes).unwrap();
        db.flush().unwrap();
    }
    let store = SledEventStore::open(tmp.path()).unwrap();
    let report = verify_chain(&store).unwrap();
    let broken = report.first_break.expect("the tampering is found");
    assert_eq!(broken.seq, 3);
    assert!(broken.reason.contains("hash mismatch"), "{}", broken.reason);
    assert_eq!(report.verified, 2);
}

#[tokio::test]
async fn a_rehashed_forgery_breaks_the_next_link() {
    let tmp = tempfile::tempdir().unwrap();
    drop(store_with(tmp.path(), 4).await);
    {
        let (db, tree) = raw_events(tmp.path());
        let original = stratagem_events::record::decode_record(
            &tree.get(2u64.to_be_bytes()).unwrap().unwrap(),
        )
        .unwrap();
        let forged = actor("forged");
        let (bytes, _) = encode_record(
            2,
            original.id,
            original.recorded_at_micros,
            SCHEMA_VERSION,
            forged.kind(),
            &forged.encode_payload().unwrap(),
            &original.prev_hash,
        );
        tree.insert(2u64.to_be_bytes(), bytes).unwrap();
        db.flush().unwrap();
    }
    let store = SledEventStore::open(tmp.path()).unwrap();
    let broken = verify_chain(&store).unwrap().first_break.unwrap();
    assert_eq!(broken.seq, 3);
    assert!(broken.reason.contains("link broken"), "{}", broken.reason);
}

#[tokio::test]
async fn a_store_missing_acknowledged_events_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    drop(store_with(tmp.path(), 5).await);
    {
        let (db, tree) = raw_events(tmp.path());
        tree.remove(5u64.to_be_bytes()).unwrap();
        tree.remove(4u64.to_be_bytes()).unwrap();
        db.flush().unwrap();
    }
    let err = SledEventStore::open(tmp.path()).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::Truncated {
                store_head: 3,
                acknowledged_head: 5,
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains("ends at sequence 3, but events up to 5 were acknowledged"),
        "{err}"
    );
}

#[tokio::test]
async fn an_event_of_a_future_schema_version_is_named_not_skipped() {
    let tmp = tempfile::tempdir().unwrap();
    let head = store_with(tmp.path(), 2).await.head();
    {
        let (db, tree) = raw_events(tmp.path());
        let future = actor("from the future");
        let (bytes, _) = encode_record(
            3,
            uuid::Uuid::now_v7(),
            0,
            SCHEMA_VERSION + 98,
            future.kind(),
            &future.encode_payload().unwrap(),
            &head.hash,
        );
        tree.insert(3u64.to_be_bytes(), bytes).unwrap();
        db.flush().unwrap();
    }
    let store = SledEventStore::open(tmp.path()).unwrap();
    let err = Projections::replay(&store).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("event 3")
            && text.contains("schema version 99 is newer than this build supports (1)"),
        "{text}"
    );
    let broken = verify_chain(&store).unwrap().first_break.unwrap();
    assert_eq!(broken.seq, 3);
    // Nothing recorded before it was lost.
    assert_eq!(store.read(1, 10).unwrap().len(), 3);
}

#[tokio::test]
async fn damaged_database_files_give_an_error_never_a_panic() {
    // Overwrite the middle of every file sled wrote with garbage, at several offsets: whatever
    // sled makes of it, opening must return (an error, or a store that then verifies or names
    // the break), not panic.
    for (round, offset_fraction) in [0.1f64, 0.5, 0.9].into_iter().enumerate() {
        let tmp = tempfile::tempdir().unwrap();
        drop(store_with(tmp.path(), 50).await);
        for entry in walk(&tmp.path().join("db")) {
            let mut bytes = std::fs::read(&entry).unwrap();
            if bytes.len() < 16 {
                continue;
            }
            let at = ((bytes.len() as f64) * offset_fraction) as usize;
            let end = (at + 64).min(bytes.len());
            for b in &mut bytes[at..end] {
                *b = 0xA5 ^ (round as u8);
            }
            std::fs::write(&entry, bytes).unwrap();
        }
        match SledEventStore::open(tmp.path()) {
            Err(e) => assert!(!e.to_string().is_empty()),
            Ok(store) => {
                let _ = verify_chain(&store);
            }
        }
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        } else {
            out.push(path);
        }
    }
    out
}

/// Regression: a process killed while sled wrote a snapshot leaves `snap.<lsn>.generating`,
/// which sled 0.34.7 takes for its newest snapshot and refuses as corrupt. The daemon's chaos
/// test met it ("empty/corrupt snapshot file found"). The store discards the unfinished file,
/// and every event is still there, rebuilt from sled's log.
#[tokio::test]
async fn a_snapshot_left_unfinished_by_a_kill_does_not_stop_the_store_opening() {
    let tmp = tempfile::tempdir().unwrap();
    let store = store_with(tmp.path(), 7).await;
    let head = store.head();
    drop(store);
    let db = tmp.path().join("db");
    let finished: Vec<String> = std::fs::read_dir(&db)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("snap."))
        .collect();
    // An empty one (killed before the first byte) and a cut-short one, both sorting after any
    // finished snapshot.
    std::fs::write(db.join("snap.FFFFFFFFFFFFFFF0.generating"), b"").unwrap();
    std::fs::write(db.join("snap.FFFFFFFFFFFFFFFF.generating"), [7u8; 40]).unwrap();
    let store = SledEventStore::open(tmp.path()).unwrap();
    assert_eq!(store.head(), head);
    assert_eq!(verify_chain(&store).unwrap().verified, 7);
    let left: Vec<String> = std::fs::read_dir(&db)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".generating"))
        .collect();
    assert!(left.is_empty(), "{left:?} (finished ones: {finished:?})");
    let next = store
        .append(AppendRequest::one(actor("after")))
        .await
        .unwrap();
    assert_eq!(next.first_seq, 8);
}
