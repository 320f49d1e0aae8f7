//! The one response body type: bytes already in memory — for previews and originals a
//! view into the store's mapping, which the body owns, so nothing is copied — sent as one
//! frame, or in chunks through a [`Pacer`] when a download is throttled; or an original in
//! object storage, read range by range as it is sent ([`Body::ranged`]), at most a few
//! chunks ahead of the client. A download's pacer lives as long as its body, which is how
//! the guard counts open streams.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use stockroom_guard::Pacer;
use stockroom_platform::RangeReader;
use tokio::sync::mpsc;
use tokio::time::Sleep;

/// A response body.
#[derive(Debug, Default)]
pub struct Body {
    rest: Bytes,
    pacer: Option<Arc<dyn Pacer>>,
    sleep: Option<Pin<Box<Sleep>>>,
    /// What is still to come from a ranged reader, and the bytes it will bring.
    feed: Option<(mpsc::Receiver<io::Result<Bytes>>, u64)>,
}

/// A ranged body is read in pieces this large (each one blocking call to the store).
const RANGE_CHUNK: u64 = 1 << 20;

/// Pieces read ahead of the client (the memory a slow client can hold up: 2 MiB).
const READ_AHEAD: usize = 2;

impl Body {
    /// A body of no bytes.
    pub fn empty() -> Body {
        Body::default()
    }

    /// Sends `bytes` in chunks, waiting as `pacer` says between them.
    pub fn paced(bytes: Bytes, pacer: Arc<dyn Pacer>) -> Body {
        Body {
            rest: bytes,
            pacer: Some(pacer),
            ..Body::default()
        }
    }
}

impl Body {
    /// Bytes `range` of what `reader` reads, fetched a piece at a time on the blocking pool
    /// by a task of its own while earlier pieces go out; paced by `pacer` if given. A piece
    /// that cannot be read ends the body with an error (the client sees a cut-off response
    /// and may resume with `Range`).
    pub fn ranged(
        reader: Arc<dyn RangeReader>,
        range: std::ops::Range<u64>,
        pacer: Option<Arc<dyn Pacer>>,
    ) -> Body {
        let (sender, receiver) = mpsc::channel(READ_AHEAD);
        let total = range.end.saturating_sub(range.start);
        tokio::spawn(async move {
            let mut at = range.start;
            while at < range.end {
                let end = (at + RANGE_CHUNK).min(range.end);
                let reader = reader.clone();
                let piece = tokio::task::spawn_blocking(move || reader.read(at..end)).await;
                let piece = match piece {
                    Ok(Ok(bytes)) if bytes.len() as u64 == end - at => Ok(bytes),
                    Ok(Ok(bytes)) => Err(io::Error::other(format!(
                        "the store returned {} bytes for {} asked",
                        bytes.len(),
                        end - at
                    ))),
                    Ok(Err(error)) => Err(io::Error::other(error.to_string())),
                    Err(error) => Err(io::Error::other(error.to_string())),
                };
                let failed = piece.is_err();
                if let Err(error) = &piece {
                    tracing::warn!(%error, "an original's range could not be read: the download is cut off");
                }
                // The client went away: stop reading.
                if sender.send(piece).await.is_err() || failed {
                    return;
                }
                at = end;
            }
        });
        Body {
            pacer,
            feed: Some((receiver, total)),
            ..Body::default()
        }
    }
}

impl From<Bytes> for Body {
    fn from(bytes: Bytes) -> Body {
        Body {
            rest: bytes,
            ..Body::default()
        }
    }
}

impl From<String> for Body {
    fn from(text: String) -> Body {
        Body::from(Bytes::from(text))
    }
}

impl From<Vec<u8>> for Body {
    fn from(bytes: Vec<u8>) -> Body {
        Body::from(Bytes::from(bytes))
    }
}

impl From<&'static str> for Body {
    fn from(text: &'static str) -> Body {
        Body::from(Bytes::from_static(text.as_bytes()))
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = &mut *self;
        if let Some(sleep) = this.sleep.as_mut() {
            ready!(sleep.as_mut().poll(cx));
            this.sleep = None;
        }
        if this.rest.is_empty()
            && let Some((receiver, remaining)) = this.feed.as_mut()
        {
            match ready!(receiver.poll_recv(cx)) {
                Some(Ok(piece)) => {
                    *remaining = remaining.saturating_sub(piece.len() as u64);
                    this.rest = piece;
                }
                Some(Err(error)) => {
                    this.feed = None;
                    return Poll::Ready(Some(Err(error)));
                }
                None => this.feed = None,
            }
        }
        if this.rest.is_empty() {
            return Poll::Ready(None);
        }
        let chunk = match &this.pacer {
            None => std::mem::take(&mut this.rest),
            Some(pacer) => {
                let chunk = this.rest.split_to(this.rest.len().min(pacer.chunk()));
                let wait = pacer.delay_after(chunk.len() as u64);
                let more = !this.rest.is_empty() || this.feed.is_some();
                if !wait.is_zero() && more {
                    this.sleep = Some(Box::pin(tokio::time::sleep(wait)));
                }
                chunk
            }
        };
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty() && self.feed.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        let coming = self.feed.as_ref().map_or(0, |(_, remaining)| *remaining);
        SizeHint::with_exact(self.rest.len() as u64 + coming)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body as _;

    /// An original in memory, read in ranges; fails from `fail_at` on.
    #[derive(Debug)]
    struct InMemory {
        bytes: Bytes,
        fail_at: u64,
    }

    impl RangeReader for InMemory {
        fn read(&self, range: std::ops::Range<u64>) -> stockroom_platform::Result<Bytes> {
            if range.end > self.fail_at {
                return Err(stockroom_platform::PlatformError::Unavailable {
                    what: "object storage",
                    why: "down".into(),
                });
            }
            Ok(self.bytes.slice(range.start as usize..range.end as usize))
        }
    }

    async fn drain(mut body: Body) -> (Vec<u8>, Option<io::Error>) {
        let mut out = Vec::new();
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            match frame {
                Ok(frame) => out.extend_from_slice(frame.data_ref().expect("data")),
                Err(error) => return (out, Some(error)),
            }
        }
        (out, None)
    }

    #[tokio::test]
    async fn a_ranged_body_sends_exactly_its_range_across_pieces_and_stops_on_a_failed_read() {
        let bytes: Bytes = (0..(3 * RANGE_CHUNK + 12_345))
            .map(|i| (i * 7 % 251) as u8)
            .collect::<Vec<u8>>()
            .into();
        let reader = Arc::new(InMemory {
            bytes: bytes.clone(),
            fail_at: u64::MAX,
        });
        let range = 100..bytes.len() as u64 - 7;
        let body = Body::ranged(reader, range.clone(), None);
        assert_eq!(body.size_hint().exact(), Some(range.end - range.start));
        let (sent, error) = drain(body).await;
        assert!(error.is_none());
        assert!(sent == bytes[range.start as usize..range.end as usize]);

        let failing = Arc::new(InMemory {
            bytes: bytes.clone(),
            fail_at: 2 * RANGE_CHUNK,
        });
        let (sent, error) = drain(Body::ranged(failing, 0..bytes.len() as u64, None)).await;
        assert_eq!(
            sent.len() as u64,
            2 * RANGE_CHUNK,
            "the pieces before the failure"
        );
        assert!(
            error.is_some(),
            "then an error, not a short body that looks whole"
        );
    }
}
