//! A real Garage (S3-compatible object storage) on loopback for the cluster tests: one node
//! in a temporary directory, its layout applied, a key and a bucket made, stopped (and
//! restartable) at will. The binary is `GARAGE_BIN` or `garage` on the PATH
//! (`tools/test.sh` installs it with `cargo install garage --locked`, SQLite engine only).

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running Garage node.
pub struct Garage {
    dir: tempfile::TempDir,
    binary: PathBuf,
    child: Option<Child>,
    /// `http://127.0.0.1:PORT`, its S3 API.
    pub endpoint: String,
    pub key_id: String,
    pub secret: String,
    pub bucket: String,
}

impl Drop for Garage {
    fn drop(&mut self) {
        self.stop();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

fn binary() -> PathBuf {
    if let Some(path) = std::env::var_os("GARAGE_BIN") {
        return path.into();
    }
    let home = std::env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_default();
    for candidate in [
        home.join(".cargo/bin/garage"),
        "/usr/local/bin/garage".into(),
    ] {
        if candidate.exists() {
            return candidate;
        }
    }
    let found = Command::new("sh")
        .args(["-c", "command -v garage"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()));
    found.expect(
        "no garage binary: the cluster tests need it (tools/test.sh installs it: cargo install garage --locked)",
    )
}

impl Garage {
    /// Starts a node with a bucket `bucket` and a key that may read and write it.
    pub fn start(bucket: &str) -> Garage {
        let dir = tempfile::tempdir().expect("temp dir");
        let (s3, rpc, admin) = (free_port(), free_port(), free_port());
        let config = format!(
            r#"metadata_dir = "{path}/meta"
data_dir = "{path}/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:{rpc}"
rpc_public_addr = "127.0.0.1:{rpc}"
rpc_secret = "{secret}"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:{s3}"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:{admin}"
"#,
            path = dir.path().display(),
            secret = "0123456789abcdef".repeat(4),
        );
        std::fs::write(dir.path().join("garage.toml"), config).expect("config");
        let mut garage = Garage {
            binary: binary(),
            dir,
            child: None,
            endpoint: format!("http://127.0.0.1:{s3}"),
            key_id: String::new(),
            secret: String::new(),
            bucket: bucket.to_string(),
        };
        garage.run();
        let node = garage.cli(&["node", "id", "-q"]);
        let node = node
            .trim()
            .split('@')
            .next()
            .unwrap_or_default()
            .to_string();
        garage.cli(&["layout", "assign", "-z", "dc1", "-c", "1G", &node]);
        garage.cli(&["layout", "apply", "--version", "1"]);
        let key: serde_json::Value = serde_json::from_str(&garage.cli(&[
            "json-api",
            "CreateKey",
            r#"{"name":"stockroom-test"}"#,
        ]))
        .expect("CreateKey answers JSON");
        garage.key_id = key["accessKeyId"].as_str().expect("key id").to_string();
        garage.secret = key["secretAccessKey"].as_str().expect("secret").to_string();
        garage.cli(&["bucket", "create", bucket]);
        garage.cli(&[
            "bucket",
            "allow",
            "--read",
            "--write",
            "--owner",
            bucket,
            "--key",
            &garage.key_id,
        ]);
        garage
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("garage.toml")
    }

    /// Starts the server process and waits until it answers.
    fn run(&mut self) {
        let log = std::fs::File::create(self.dir.path().join("garage.log")).expect("log");
        let child = Command::new(&self.binary)
            .arg("-c")
            .arg(self.config())
            .arg("server")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start garage");
        self.child = Some(child);
        let started = Instant::now();
        loop {
            let status = Command::new(&self.binary)
                .arg("-c")
                .arg(self.config())
                .arg("status")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .expect("garage status");
            if status.success() {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "garage did not start: {}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The server's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("garage.log")).unwrap_or_default()
    }

    /// Runs a `garage` command against the node; panics if it fails.
    pub fn cli(&self, args: &[&str]) -> String {
        let output = Command::new(&self.binary)
            .arg("-c")
            .arg(self.config())
            .args(args)
            .output()
            .expect("run garage");
        assert!(
            output.status.success(),
            "garage {args:?}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Kills the server (SIGKILL, as a crash); its data stays.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same data and ports.
    pub fn restart(&mut self) {
        self.stop();
        self.run();
    }

    /// The variables a client of this node reads (object_store's `AWS_*`).
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_REGION", "garage".into()),
            ("AWS_ACCESS_KEY_ID", self.key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret.clone()),
            ("AWS_ALLOW_HTTP", "true".into()),
        ]
    }

    /// An S3 client's builder for this node, configured from [`Garage::env`] as a
    /// deployment's would be from its environment.
    pub fn s3(&self) -> stockroom_s3::AmazonS3Builder {
        self.env().into_iter().fold(
            stockroom_s3::AmazonS3Builder::new(),
            |builder, (key, value)| {
                let key = key.to_ascii_lowercase().parse().expect("an AWS_* variable");
                builder.with_config(key, value)
            },
        )
    }

    /// Where its files are.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}
