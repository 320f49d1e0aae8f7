//! The running server's control socket, `DATA/server/control.sock`: `stats`, `verify` and
//! `dedup` need the data directory's stores, which a running server holds locked; they ask
//! the server through this socket instead, and print what they would have printed.
//!
//! Who may connect is who may read the data directory (the socket is 0600 in the data
//! directory's 0700 tree; every file there is the same user's), so it asks for no key. One
//! JSON request line per connection (`{"op": "stats" | "verify" | "dedup", …}`), answered by
//! JSON lines: `{"out": LINE}` for the command's stdout, `{"err": LINE}` for its stderr, and
//! last `{"exit": CODE}` (or `{"error": TEXT}` if the request failed).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex, Weak};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use stockroom_platform::Platform;

use crate::config::Config;

/// What a command asks of the running server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// `stockroom stats`.
    Stats,
    /// `stockroom verify`.
    Verify,
    /// `stockroom dedup`: absolute paths (the server reads them as the same user).
    Dedup {
        threshold: Option<u32>,
        images: Vec<PathBuf>,
    },
}

/// Where the socket is.
pub fn socket_path(config: &Config) -> PathBuf {
    config.data_dir.join("server").join("control.sock")
}

/// The listening socket; removed when dropped (the server is stopping).
#[derive(Debug)]
pub struct ControlSocket {
    path: PathBuf,
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Starts answering on the socket, on threads of its own (a verify takes minutes). The
/// platform is held weakly, so that it still closes cleanly when the server stops.
pub fn listen(config: &Config, platform: &Arc<Platform>) -> Result<ControlSocket> {
    let path = socket_path(config);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    // Whatever is there is a dead server's: this process holds the data directory's lock.
    let _ = std::fs::remove_file(&path);
    let listener =
        UnixListener::bind(&path).with_context(|| format!("binding {}", path.display()))?;
    let platform = Arc::downgrade(platform);
    let config = config.clone();
    std::thread::Builder::new()
        .name("control".into())
        .spawn(move || {
            for stream in listener.incoming().flatten() {
                let (platform, config) = (platform.clone(), config.clone());
                let _ = std::thread::Builder::new()
                    .name("control-call".into())
                    .spawn(move || answer(stream, &platform, &config));
            }
        })
        .context("starting the control thread")?;
    Ok(ControlSocket { path })
}

fn answer(stream: UnixStream, platform: &Weak<Platform>, config: &Config) {
    let mut line = String::new();
    let read = BufReader::new(&stream).read_line(&mut line);
    let writer = Mutex::new(&stream);
    let send = |message: serde_json::Value| {
        let mut stream = writer.lock().unwrap_or_else(|poison| poison.into_inner());
        let _ = writeln!(stream, "{message}");
    };
    let request = match read
        .map_err(anyhow::Error::from)
        .and_then(|_| Ok(serde_json::from_str::<Request>(&line)?))
    {
        Ok(request) => request,
        Err(error) => return send(serde_json::json!({ "error": format!("{error:#}") })),
    };
    let Some(platform) = platform.upgrade() else {
        return send(serde_json::json!({ "error": "the server is stopping" }));
    };
    tracing::info!(?request, "control socket");
    let mut out = Lines::new("out", &send);
    let mut err = Lines::new("err", &send);
    let done = run(&platform, config, request, &mut out, &mut err);
    let (_, _) = (out.flush(), err.flush());
    match done {
        Ok(code) => send(serde_json::json!({ "exit": code })),
        Err(error) => send(serde_json::json!({ "error": format!("{error:#}") })),
    }
}

/// Runs a request on the server's own platform, writing what the command would print.
fn run(
    platform: &Platform,
    config: &Config,
    request: Request,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<u8> {
    let code = match request {
        Request::Stats => crate::maintenance::stats_of(platform, config, out)?,
        Request::Verify => crate::maintenance::verify_of(platform, false, out, err)?,
        Request::Dedup { threshold, images } => {
            crate::dedup_with(platform, config, threshold, &images, out)?
        }
    };
    Ok(if code == ExitCode::SUCCESS { 0 } else { 1 })
}

/// A sink that sends each complete line written to it as `{"<name>": LINE}`.
struct Lines<'a> {
    name: &'static str,
    send: &'a dyn Fn(serde_json::Value),
    buffer: Vec<u8>,
}

impl<'a> Lines<'a> {
    fn new(name: &'static str, send: &'a dyn Fn(serde_json::Value)) -> Lines<'a> {
        Lines {
            name,
            send,
            buffer: Vec::new(),
        }
    }
}

impl Write for Lines<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buffer.extend_from_slice(bytes);
        while let Some(end) = self.buffer.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buffer.drain(..=end).collect();
            let text = String::from_utf8_lossy(&line[..end]).into_owned();
            (self.send)(serde_json::json!({ self.name: text }));
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if !self.buffer.is_empty() {
            let text = String::from_utf8_lossy(&self.buffer).into_owned();
            self.buffer.clear();
            (self.send)(serde_json::json!({ self.name: text }));
        }
        Ok(())
    }
}

/// Whether `error` is the data directory being held by another process.
fn held_elsewhere(error: &anyhow::Error) -> bool {
    error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<stockroom_store::StoreError>(),
            Some(stockroom_store::StoreError::Locked { .. })
        )
    })
}

/// For a command that could not open the data directory because of `error`: when a
/// running server holds it, asks the server through its control socket and prints the
/// answer; otherwise returns `error`.
pub fn or_ask(config: &Config, error: anyhow::Error, request: Request) -> Result<ExitCode> {
    if !held_elsewhere(&error) {
        return Err(error);
    }
    let path = socket_path(config);
    let Ok(stream) = UnixStream::connect(&path) else {
        // Held by an ingest or another command, not a server: nothing to ask.
        return Err(error);
    };
    tracing::debug!(socket = %path.display(), "the data directory is served: asking the server");
    ask(stream, &request)
}

fn ask(mut stream: UnixStream, request: &Request) -> Result<ExitCode> {
    writeln!(stream, "{}", serde_json::to_string(request)?)?;
    let (mut stdout, mut stderr) = (std::io::stdout().lock(), std::io::stderr().lock());
    for line in BufReader::new(stream).lines() {
        let message: serde_json::Value = serde_json::from_str(&line?)?;
        if let Some(text) = message["out"].as_str() {
            writeln!(stdout, "{text}")?;
        } else if let Some(text) = message["err"].as_str() {
            writeln!(stderr, "{text}")?;
        } else if let Some(code) = message["exit"].as_u64() {
            stdout.flush()?;
            return Ok(ExitCode::from(u8::try_from(code).unwrap_or(1)));
        } else if let Some(text) = message["error"].as_str() {
            bail!("the running server answered: {text}");
        }
    }
    bail!("the running server closed the control socket without an answer")
}

/// Paths as the server must read them: absolute (its working directory is not ours).
pub fn absolute(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    paths
        .iter()
        .map(|path| {
            std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))
        })
        .collect()
}
