//! A real HAProxy on loopback in front of the cluster tests' nodes: round robin, each node
//! health-checked every 100 ms (`/healthz`), a request whose node refused the connection
//! sent to another (`option redispatch`), `X-Forwarded-For` added, and the node that
//! answered named in `X-Node`. Debian's `haproxy` (`tools/test.sh` installs it).

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running HAProxy.
pub struct Haproxy {
    _dir: tempfile::TempDir,
    child: Child,
    /// `127.0.0.1:PORT`, where clients connect.
    pub address: String,
}

impl Haproxy {
    /// Balances over `nodes` (`host:port` each, named `n0`, `n1`, … in `X-Node`).
    pub fn start(nodes: &[String]) -> Haproxy {
        let dir = tempfile::tempdir().expect("temp dir");
        let port = super::postgres::free_port();
        let servers: String = nodes
            .iter()
            .enumerate()
            .map(|(n, address)| {
                format!("    server n{n} {address} check inter 100ms fall 1 rise 1\n")
            })
            .collect();
        let config = format!(
            "global\n    maxconn 512\n\
             defaults\n    mode http\n    timeout connect 1s\n    timeout client 60s\n    timeout server 60s\n\
             \x20   retries 2\n    option redispatch\n    option forwardfor\n\
             listen stockroom\n    bind 127.0.0.1:{port}\n    balance roundrobin\n\
             \x20   option httpchk GET /healthz\n\
             \x20   http-response set-header X-Node %s\n{servers}"
        );
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, config).expect("haproxy.cfg");
        // Debian puts it in /usr/sbin, which a user's PATH may lack.
        let binary = std::env::var_os("HAPROXY_BIN").unwrap_or_else(|| {
            if std::path::Path::new("/usr/sbin/haproxy").exists() {
                "/usr/sbin/haproxy".into()
            } else {
                "haproxy".into()
            }
        });
        let child = Command::new(&binary)
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| {
                panic!("starting {binary:?} (apt-get install haproxy; tools/test.sh does): {error}")
            });
        let address = format!("127.0.0.1:{port}");
        let started = Instant::now();
        while std::net::TcpStream::connect(&address).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "haproxy did not listen on {address}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // Let the first health checks mark the nodes up.
        std::thread::sleep(Duration::from_millis(300));
        Haproxy {
            _dir: dir,
            child,
            address,
        }
    }
}

impl Drop for Haproxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
