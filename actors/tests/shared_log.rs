//! A data directory whose log is a JetStream stream other processes write (`--store nats://…`):
//! a decision lands only right after the event it was decided on, so a process with a stale
//! view — a deposed leader — is refused instead of writing on what it did not see.

#[path = "../../events/tests/common/nats.rs"]
mod nats;

use std::sync::Arc;

use stratagem_actors::workflow::data_dir::DataDir;
use stratagem_events::{ActorStarted, AppendRequest, Event, JetStreamEventStore};

fn actor(name: &str) -> AppendRequest {
    AppendRequest::one(Event::from(ActorStarted { actor: name.into() }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_process_whose_view_is_stale_is_refused_and_decides_again_on_the_new_one() {
    let server = tokio::task::spawn_blocking(nats::Nats::single)
        .await
        .unwrap();
    let address = server.address("SHARED");
    let tmp = tempfile::tempdir().unwrap();
    let (root_a, root_b) = (tmp.path().join("a"), tmp.path().join("b"));
    // Two processes' views of one stream: each its own store client and data directory.
    let mut kept = Vec::new();
    for root in [&root_a, &root_b] {
        std::fs::create_dir_all(root).unwrap();
        let store = JetStreamEventStore::open(&address, 1).await.unwrap();
        kept.push(DataDir::keep_store(root, Arc::new(store), &address.label()));
    }
    let a = DataDir::open(&root_a).unwrap();
    let mut pa = a.projections().unwrap();
    let b = DataDir::open(&root_b).unwrap();
    let mut pb = b.projections().unwrap();
    assert_eq!((pa.state().last_seq, pb.state().last_seq), (0, 0));
    // A decides and records.
    a.append(&mut pa, actor("leader")).await.unwrap();
    // B decided on the empty log: refused, nothing stored.
    let err = b.append(&mut pb, actor("deposed")).await.unwrap_err();
    let text = format!("{err:#}");
    assert!(
        text.contains("expected the next sequence number to be 1, but it is 2"),
        "{text}"
    );
    assert_eq!(a.store().head().seq, 1);
    // Its projections read what it missed: deciding again on them lands after it.
    assert_eq!(pb.state().last_seq, 1);
    let ack = b.append(&mut pb, actor("on the new view")).await.unwrap();
    assert_eq!(ack.first_seq, 2);
    drop((pa, pb, a, b, kept));
}
