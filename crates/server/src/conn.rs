//! The accept loop and each connection's life: the connection limit, hyper's header-read
//! timeout (a client must send a whole request head in time), an idle watchdog (a
//! connection that moves no byte either way for `idle_timeout` is closed, which also ends
//! a client that stops reading a download), and graceful shutdown (stop accepting, let
//! in-flight responses finish, close). With TLS configured, each connection's handshake
//! runs in its own task, within the header-read timeout, before HTTP starts.

use std::convert::Infallible;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_rustls::TlsAcceptor;

use crate::{App, router};

/// A request head still incomplete at this size is refused with `431` (one that arrived
/// whole in a larger read may be up to twice this): 80 KiB, ten times what nginx allows a
/// header line by default, and room for a request target of hyper's longest (65,534
/// bytes), so that a longer target is told `414`, not `431`. The router refuses targets
/// over 8 KiB with `414` itself.
const MAX_HEAD_BYTES: usize = 80 * 1024;

/// Serves connections from `listener` until `shutdown` completes, then drains.
pub async fn serve(app: Arc<App>, listener: TcpListener, shutdown: impl Future<Output = ()>) {
    let graceful = GracefulShutdown::new();
    let limit = Arc::new(Semaphore::new(app.options.max_connections.max(1)));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of descriptors, or a connection reset before accept: wait a
                    // moment rather than spin.
                    tracing::warn!(%error, "accept");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        app.metrics.connections.fetch_add(1, Ordering::Relaxed);
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            app.metrics
                .refused_connections
                .fetch_add(1, Ordering::Relaxed);
            tokio::spawn(refuse(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let activity = Arc::new(Activity::default());
        let watched = Watched::new(stream, activity.clone());
        let watcher = graceful.watcher();
        let tls = app.options.tls.clone().map(TlsAcceptor::from);
        let app = app.clone();
        tokio::spawn(async move {
            let _permit = permit;
            app.metrics.open_connections.fetch_add(1, Ordering::Relaxed);
            match tls {
                None => connection(&app, watched, peer, &activity, watcher).await,
                Some(acceptor) => {
                    // The handshake is held to the same limit as a request head.
                    let handshake = tokio::time::timeout(
                        app.options.header_read_timeout,
                        acceptor.accept(watched),
                    );
                    if let Ok(Ok(stream)) = handshake.await {
                        connection(&app, stream, peer, &activity, watcher).await;
                    }
                }
            }
            app.metrics.open_connections.fetch_sub(1, Ordering::Relaxed);
        });
    }
    app.ready.store(false, Ordering::SeqCst);
    drop(listener);
    let grace = app.options.shutdown_grace;
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(grace) => {
            tracing::warn!(?grace, "grace period passed; closing the connections still open");
        }
    }
}

/// Serves HTTP/1.1 on one connection (plain or TLS) until it ends, is idle too long, or
/// shutdown has drained it.
async fn connection<S>(
    app: &Arc<App>,
    io: S,
    peer: SocketAddr,
    activity: &Activity,
    watcher: Watcher,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let handler_app = app.clone();
    let service = service_fn(move |request| {
        let app = handler_app.clone();
        async move { Ok::<_, Infallible>(router::handle(app, request, peer).await) }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(app.options.header_read_timeout)
        .keep_alive(true)
        .max_header_size(MAX_HEAD_BYTES)
        .serve_connection(TokioIo::new(io), service);
    watch_idle(
        watcher.watch(connection),
        activity,
        app.options.idle_timeout,
    )
    .await;
}

/// Runs a connection to its end, or closes it once it has been idle too long.
async fn watch_idle<C>(connection: C, activity: &Activity, idle_timeout: Duration)
where
    C: Future<Output = Result<(), hyper::Error>>,
{
    tokio::pin!(connection);
    let mut tick = tokio::time::interval((idle_timeout / 4).max(Duration::from_millis(50)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            // A connection's error is the client's doing (reset, timeout, malformed head,
            // answered with a 4xx where hyper could): nothing to log or keep.
            _ = &mut connection => return,
            _ = tick.tick() => {
                if activity.idle_for() >= idle_timeout {
                    return;
                }
            }
        }
    }
}

/// Over the limit: a short `503` and close, so the client learns why.
async fn refuse(mut stream: TcpStream) {
    let answer = b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.write_all(answer)).await;
    let _ = stream.shutdown().await;
}

/// When the connection last moved a byte.
#[derive(Debug)]
struct Activity {
    origin: Instant,
    last_millis: AtomicU64,
}

impl Default for Activity {
    fn default() -> Activity {
        Activity {
            origin: Instant::now(),
            last_millis: AtomicU64::new(0),
        }
    }
}

impl Activity {
    fn touch(&self) {
        let millis = self.origin.elapsed().as_millis() as u64;
        self.last_millis.store(millis, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let now = self.origin.elapsed().as_millis() as u64;
        Duration::from_millis(now.saturating_sub(self.last_millis.load(Ordering::Relaxed)))
    }
}

/// A stream that notes each read or write that moved bytes, and turns hyper's own bodiless
/// error answers into problems (`problem::rewrite_automatic`).
struct Watched<S> {
    inner: S,
    activity: Arc<Activity>,
    /// A rewritten answer still to be written, from `owed_at`.
    owed: Vec<u8>,
    owed_at: usize,
}

impl<S> Watched<S> {
    fn new(inner: S, activity: Arc<Activity>) -> Watched<S> {
        Watched {
            inner,
            activity,
            owed: Vec::new(),
            owed_at: 0,
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.activity.touch();
        }
        result
    }
}

impl<S: AsyncWrite + Unpin> Watched<S> {
    /// Writes what a rewritten answer still owes; ready once nothing is owed.
    fn poll_owed(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.owed_at < self.owed.len() {
            let written =
                ready!(Pin::new(&mut self.inner).poll_write(cx, &self.owed[self.owed_at..]))?;
            if written == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.owed_at += written;
            self.activity.touch();
        }
        self.owed = Vec::new();
        self.owed_at = 0;
        Poll::Ready(Ok(()))
    }

    /// Takes `bytes` in place of the inner stream when they are one of hyper's own error
    /// answers, owing its problem instead. hyper then flushes and closes, which pay it.
    fn took_automatic(&mut self, cx: &mut Context<'_>, bytes: &[u8]) -> io::Result<bool> {
        if !bytes.starts_with(b"HTTP/1.1 4") {
            return Ok(false);
        }
        let Some(problem) = crate::problem::rewrite_automatic(bytes) else {
            return Ok(false);
        };
        self.owed = problem;
        if let Poll::Ready(Err(error)) = self.poll_owed(cx) {
            return Err(error);
        }
        Ok(true)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_owed(cx))?;
        if self.took_automatic(cx, buf)? {
            return Poll::Ready(Ok(buf.len()));
        }
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(written)) if written > 0) {
            self.activity.touch();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_owed(cx))?;
        let total: usize = bufs.iter().map(|buf| buf.len()).sum();
        // hyper's own answers are a head alone, in one slice.
        if let Some(first) = bufs.iter().find(|buf| !buf.is_empty())
            && first.len() == total
            && self.took_automatic(cx, first)?
        {
            return Poll::Ready(Ok(total));
        }
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(written)) if written > 0) {
            self.activity.touch();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_owed(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_owed(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
