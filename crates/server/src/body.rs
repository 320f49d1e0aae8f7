//! The one response body type: bytes already in memory — for previews and originals a
//! view into the store's mapping, which the body owns, so nothing is copied — sent as one
//! frame, or in chunks through a [`Pacer`] when a download is throttled. A download's
//! pacer lives as long as its body, which is how the guard counts open streams.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use stockroom_guard::Pacer;
use tokio::time::Sleep;

/// A response body.
#[derive(Debug, Default)]
pub struct Body {
    rest: Bytes,
    pacer: Option<Arc<dyn Pacer>>,
    sleep: Option<Pin<Box<Sleep>>>,
}

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
            sleep: None,
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
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = &mut *self;
        if let Some(sleep) = this.sleep.as_mut() {
            ready!(sleep.as_mut().poll(cx));
            this.sleep = None;
        }
        if this.rest.is_empty() {
            return Poll::Ready(None);
        }
        let chunk = match &this.pacer {
            None => std::mem::take(&mut this.rest),
            Some(pacer) => {
                let chunk = this.rest.split_to(this.rest.len().min(pacer.chunk()));
                let wait = pacer.delay_after(chunk.len() as u64);
                if !wait.is_zero() && !this.rest.is_empty() {
                    this.sleep = Some(Box::pin(tokio::time::sleep(wait)));
                }
                chunk
            }
        };
        Poll::Ready(Some(Ok(Frame::data(chunk))))
    }

    fn is_end_stream(&self) -> bool {
        self.rest.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.rest.len() as u64)
    }
}
