//! A real, throwaway PostgreSQL for the tests: `initdb` in a temporary directory, the
//! server on a free loopback port, trust authentication, a fresh database per test. The
//! binaries are `PG_BIN`'s, or those on the PATH, or the newest under
//! `/usr/lib/postgresql/*/bin` (Debian's `postgresql`, which `tools/test.sh` installs).
//!
//! One cluster serves a whole test process ([`shared`]); a test that stops the server
//! makes its own ([`Postgres::start`]). A server is started through `setpriv` from one
//! long-lived thread with a parent-death signal, so that it stops when the test process
//! ends, however it ends (a test binary never drops its statics); as root, `setpriv` also
//! runs it as the `postgres` user, since PostgreSQL refuses to run as root.

#![allow(dead_code)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// A PostgreSQL server of the tests'.
pub struct Postgres {
    dir: PathBuf,
    bin: PathBuf,
    pub port: u16,
    child: Mutex<Option<Child>>,
    databases: AtomicU32,
}

/// The cluster this test process shares.
pub fn shared() -> &'static Postgres {
    static SHARED: OnceLock<Postgres> = OnceLock::new();
    SHARED.get_or_init(Postgres::start)
}

/// A fresh database on the shared cluster: its URL.
pub fn database() -> String {
    shared().database()
}

impl Drop for Postgres {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A port nothing listens on now (on loopback).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .expect("a free port")
}

/// The directory of PostgreSQL's server binaries.
fn bin() -> PathBuf {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return dir.into();
    }
    let on_path = Command::new("sh")
        .args(["-c", "command -v initdb"])
        .output()
        .ok()
        .filter(|output| output.status.success())
        .map(|output| PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()));
    if let Some(initdb) = on_path {
        let initdb = std::fs::canonicalize(&initdb).unwrap_or(initdb);
        return initdb.parent().expect("initdb's directory").to_path_buf();
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").exists().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin).expect(
        "no PostgreSQL server binaries (initdb): tools/test.sh installs Debian's postgresql; \
         or set PG_BIN",
    )
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|output| String::from_utf8_lossy(&output.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `program` with `args` as PostgreSQL runs: through `setpriv`, as `postgres` when we are
/// root, and stopped by SIGINT (a fast shutdown) when the test process ends.
fn command(program: &Path, args: &[&str]) -> Command {
    let mut command = Command::new("setpriv");
    if is_root() {
        command.args(["--reuid=postgres", "--regid=postgres", "--init-groups"]);
    }
    command
        .args(["--pdeathsig", "INT", "--"])
        .arg(program)
        .args(args);
    command
}

/// Spawns `command` from a thread that lives as long as the process, so that the
/// parent-death signal comes when the process ends (not when a test's thread does).
fn spawn(command: Command) -> Child {
    type Request = (Command, mpsc::Sender<std::io::Result<Child>>);
    static SPAWNER: OnceLock<Mutex<mpsc::Sender<Request>>> = OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (requests, received) = mpsc::channel::<Request>();
        std::thread::Builder::new()
            .name("postgres-spawner".into())
            .spawn(move || {
                for (mut command, answer) in received {
                    let _ = answer.send(command.spawn());
                }
                // The sender is in a static: this thread never ends.
            })
            .expect("spawning the spawner thread");
        Mutex::new(requests)
    });
    let (answer, answered) = mpsc::channel();
    spawner
        .lock()
        .expect("not poisoned")
        .send((command, answer))
        .expect("the spawner thread runs");
    answered
        .recv()
        .expect("the spawner answers")
        .expect("starting postgres")
}

/// A directory for a cluster, removing those of earlier test processes that have ended.
fn cluster_dir() -> PathBuf {
    let parent = std::env::temp_dir().join("stockroom-pg-tests");
    std::fs::create_dir_all(&parent).expect("creating the clusters' directory");
    for entry in std::fs::read_dir(&parent).into_iter().flatten().flatten() {
        let name = entry.file_name();
        let pid = name
            .to_str()
            .and_then(|name| name.split('-').next()?.parse::<u32>().ok());
        if let Some(pid) = pid
            && !Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let dir = parent.join(format!(
        "{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("creating a cluster directory");
    dir
}

fn give_to_postgres(path: &Path) {
    if is_root() {
        let status = Command::new("chown")
            .args(["-R", "postgres:postgres"])
            .arg(path)
            .status()
            .expect("chown");
        assert!(status.success(), "chown {} to postgres", path.display());
    }
}

impl Postgres {
    /// A new cluster, running.
    pub fn start() -> Postgres {
        Postgres::start_with(|_| {})
    }

    /// A new cluster that takes TCP connections over TLS only, with this certificate
    /// (chain, PEM) and key (PEM); its own tools connect through its Unix socket.
    pub fn start_tls(certificate: &str, key: &str) -> Postgres {
        Postgres::start_with(|data| {
            std::fs::write(data.join("server.crt"), certificate).expect("server.crt");
            std::fs::write(data.join("server.key"), key).expect("server.key");
            let conf = data.join("postgresql.conf");
            let mut text = std::fs::read_to_string(&conf).expect("postgresql.conf");
            text.push_str(
                "\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n",
            );
            std::fs::write(&conf, text).expect("postgresql.conf");
            std::fs::write(
                data.join("pg_hba.conf"),
                "local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostnossl all all 0.0.0.0/0 reject\n",
            )
            .expect("pg_hba.conf");
            give_to_postgres(data);
            let key = data.join("server.key");
            std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o600))
                .expect("the key's mode");
        })
    }

    /// A new cluster, `prepare`d (given its data directory) before it first starts.
    fn start_with(prepare: impl FnOnce(&Path)) -> Postgres {
        let bin = bin();
        let dir = cluster_dir();
        give_to_postgres(&dir);
        let data = dir.join("data");
        let output = command(
            &bin.join("initdb"),
            &[
                "-D",
                data.to_str().expect("a UTF-8 path"),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-locale",
                "--encoding=UTF8",
                "--no-sync",
            ],
        )
        .output()
        .expect("running initdb");
        assert!(
            output.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        prepare(&data);
        let server = Postgres {
            dir,
            bin,
            port: free_port(),
            child: Mutex::new(None),
            databases: AtomicU32::new(0),
        };
        server.resume();
        server
    }

    /// The server's URL for `database`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// A fresh, empty database: its URL.
    pub fn database(&self) -> String {
        let name = format!("t{}", self.databases.fetch_add(1, Ordering::Relaxed));
        self.sql("postgres", &format!("CREATE DATABASE {name}"));
        self.url(&name)
    }

    /// `database` through the server's Unix socket (which takes plain connections when TCP
    /// takes TLS only).
    fn local(&self, database: &str) -> String {
        format!(
            "host={} port={} user=postgres dbname={database}",
            self.dir.display(),
            self.port
        )
    }

    /// Runs `sql` in `database` (as the superuser).
    pub fn sql(&self, database: &str, sql: &str) {
        let mut client = postgres::Client::connect(&self.local(database), postgres::NoTls)
            .expect("connecting to the test server");
        client.batch_execute(sql).expect(sql);
    }

    /// Starts the server (again) on its port, and waits until it answers.
    pub fn resume(&self) {
        let data = self.dir.join("data");
        let socket_dir = self.dir.to_str().expect("a UTF-8 path");
        let port = self.port.to_string();
        let mut server = command(
            &self.bin.join("postgres"),
            &[
                "-D",
                data.to_str().expect("a UTF-8 path"),
                "-p",
                &port,
                "-c",
                "listen_addresses=127.0.0.1",
                "-c",
                &format!("unix_socket_directories={socket_dir}"),
                "-c",
                "max_connections=300",
                // Throwaway data: a test's commits need not reach the disk (the
                // benchmark's server keeps fsync on).
                "-c",
                "fsync=off",
                "-c",
                "full_page_writes=off",
            ],
        );
        server
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.join("server.log")).expect("the server log"));
        *self.child.lock().expect("not poisoned") = Some(spawn(server));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if postgres::Client::connect(&self.local("postgres"), postgres::NoTls).is_ok() {
                return;
            }
            let exited = self
                .child
                .lock()
                .expect("not poisoned")
                .as_mut()
                .and_then(|child| child.try_wait().ok().flatten());
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "postgres did not start ({exited:?}): {}",
                std::fs::read_to_string(self.dir.join("server.log")).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server at once, as a crash or a kill would (SIGKILL to the postmaster and
    /// its backends); `resume` starts it again with crash recovery.
    pub fn kill(&self) {
        if let Some(mut child) = self.child.lock().expect("not poisoned").take() {
            // The backends are the postmaster's children: SIGQUIT is an immediate stop.
            let _ = Command::new("kill")
                .args(["-QUIT", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }

    /// Stops the server cleanly (a fast shutdown).
    pub fn stop(&self) {
        if let Some(mut child) = self.child.lock().expect("not poisoned").take() {
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            let _ = child.wait();
        }
    }
}
