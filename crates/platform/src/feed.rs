//! The change feed: what the platform tells the parts derived from the catalogue (a
//! server's preview cache today; in the cluster shape each node's search and duplicate
//! replicas) after a change is durable. The embedded shape delivers in process and at
//! once: a listener has run before the action that published the change returns, so an
//! asset withdrawn or taken down is out of every cache by then.

use std::sync::RwLock;

use stockroom_vocab::AssetId;

/// A change the catalogue recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// A new asset (active or held) is stored and catalogued.
    AssetAdded(AssetId),
    /// An asset's status or terms changed (approved, say); it is still there.
    AssetChanged(AssetId),
    /// An asset left the public (withdrawn, taken down, purged, its author erased).
    AssetRemoved(AssetId),
    /// A member changed (blocked, cleared, erased).
    MemberChanged(String),
}

/// Who hears about a change.
pub type Listener = Box<dyn Fn(&Change) + Send + Sync>;

/// Where changes are published and heard. Implementations must deliver each change to
/// every listener; the in-process one does so before `publish` returns.
pub trait ChangeFeed: Send + Sync + std::fmt::Debug {
    /// Tells every listener about `change`.
    fn publish(&self, change: &Change);
    /// Adds a listener for every change published from now on.
    fn subscribe(&self, listener: Listener);
}

/// The embedded shape's feed: listeners called in process, in order of subscription.
#[derive(Default)]
pub struct LocalFeed {
    listeners: RwLock<Vec<Listener>>,
}

impl std::fmt::Debug for LocalFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let count = self.listeners.read().map_or(0, |listeners| listeners.len());
        f.debug_struct("LocalFeed")
            .field("listeners", &count)
            .finish()
    }
}

impl ChangeFeed for LocalFeed {
    fn publish(&self, change: &Change) {
        let listeners = self
            .listeners
            .read()
            .unwrap_or_else(|poison| poison.into_inner());
        for listener in listeners.iter() {
            listener(change);
        }
    }

    fn subscribe(&self, listener: Listener) {
        self.listeners
            .write()
            .unwrap_or_else(|poison| poison.into_inner())
            .push(listener);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[test]
    fn every_listener_hears_each_change_before_publish_returns() {
        let feed = LocalFeed::default();
        let heard = Arc::new(Mutex::new(Vec::new()));
        for name in ["cache", "replica"] {
            let heard = heard.clone();
            feed.subscribe(Box::new(move |change| {
                heard.lock().expect("lock").push((name, change.clone()));
            }));
        }
        feed.publish(&Change::AssetRemoved(AssetId::from_u64(9)));
        assert_eq!(
            *heard.lock().expect("lock"),
            [
                ("cache", Change::AssetRemoved(AssetId::from_u64(9))),
                ("replica", Change::AssetRemoved(AssetId::from_u64(9)))
            ]
        );
    }
}
