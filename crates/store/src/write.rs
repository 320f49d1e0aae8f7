//! The write path: appends under one lock, flushes shared by every waiting writer.
//!
//! A writer appends its record to the active segment (holding the writer lock only for the
//! `pwrite`), then waits in [`Store::commit`] until a flush covers its sequence number. The
//! first waiter to find no flush running becomes the leader: it takes every record appended
//! so far, flushes once, publishes those records to the index in sequence order, and wakes
//! the others. So N concurrent writers cost about one `fdatasync`, not N, and a record is
//! visible to readers only once it is durable.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::error::{Result, StoreError};
use crate::format::{AssetId, Header, Kind, RecordType, SEAL_RECORD_LEN, padding, record_len};
use crate::segment::{self, SEGMENT_SUFFIX, Segment};
use crate::{Entry, Key, Store};

/// Bodies up to this size are copied next to their header and written with one call.
const COALESCE_LIMIT: usize = 64 * 1024;

/// The segment being appended to and how far.
#[derive(Debug)]
struct Active {
    segment: Arc<Segment>,
    offset: u64,
}

/// A record that is written but not yet known to be durable.
#[derive(Debug)]
struct Pending {
    key: Key,
    /// `None` for a tombstone.
    entry: Option<Entry>,
}

/// State behind the writer lock.
#[derive(Debug)]
pub(crate) struct Writer {
    active: Option<Active>,
    next_seq: u64,
    next_segment: u64,
    pending: Vec<Pending>,
    scratch: Vec<u8>,
}

impl Writer {
    pub(crate) fn new(next_seq: u64, next_segment: u64) -> Writer {
        Writer {
            active: None,
            next_seq,
            next_segment,
            pending: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// Reserves a segment number for a new file (the write path's or compaction's).
    pub(crate) fn allocate_segment_number(&mut self) -> u64 {
        let number = self.next_segment;
        self.next_segment += 1;
        number
    }

    /// The highest sequence number handed out so far.
    pub(crate) fn last_seq(&self) -> u64 {
        self.next_seq - 1
    }

    /// The active segment's number and the offset up to which records are written.
    pub(crate) fn written_end(&self) -> Option<(u64, u64)> {
        self.active
            .as_ref()
            .map(|active| (active.segment.number, active.offset))
    }
}

/// State behind the commit lock.
#[derive(Debug)]
pub(crate) struct CommitState {
    /// Every record with a sequence number up to this is durable and published.
    durable_seq: u64,
    /// A leader is flushing right now.
    flushing: bool,
}

impl CommitState {
    pub(crate) fn new(durable_seq: u64) -> CommitState {
        CommitState {
            durable_seq,
            flushing: false,
        }
    }
}

impl Store {
    /// Appends `body` for `(asset, kind)`, or a tombstone for it when `body` is `None`, and
    /// returns the record's sequence number. The record is neither durable nor visible until
    /// [`Store::commit`] covers that number.
    pub(crate) fn append(&self, asset: AssetId, kind: Kind, body: Option<&[u8]>) -> Result<u64> {
        let record_type = match body {
            Some(_) => RecordType::Put(kind),
            None => RecordType::Tombstone(kind),
        };
        let body = body.unwrap_or_default();
        let body_len = body.len() as u64;
        let max = self.options.max_blob_len();
        if body_len > max {
            return Err(StoreError::RecordTooLarge { len: body_len, max });
        }
        let body_hash = *blake3::hash(body).as_bytes();
        let total = record_len(body_len);

        let mut writer = self
            .writer
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if self.poisoned.load(Ordering::Acquire) {
            return Err(StoreError::Poisoned);
        }
        let (segment, offset) = self.room_for(&mut writer, total)?;
        let seq = writer.next_seq;
        let header = Header {
            record_type,
            asset,
            seq,
            body_len,
            body_hash,
        }
        .encode();
        let padding = padding(body_len);
        let written = if body.len() <= COALESCE_LIMIT {
            let scratch = &mut writer.scratch;
            scratch.clear();
            scratch.extend_from_slice(&header);
            scratch.extend_from_slice(body);
            scratch.extend_from_slice(padding);
            segment.write_at(offset, &[scratch])
        } else {
            segment.write_at(offset, &[&header, body, padding])
        };
        if let Err(error) = written {
            // Cut whatever part of the record reached the file, so the next append starts on
            // clean bytes. If even that fails, the file's state is unknown: stop writing.
            if segment.set_len(offset).is_err() {
                self.poisoned.store(true, Ordering::Release);
            }
            return Err(error);
        }
        writer.next_seq += 1;
        let entry = matches!(record_type, RecordType::Put(_)).then(|| Entry {
            segment: Arc::clone(&segment),
            offset,
            body_len,
        });
        writer.pending.push(Pending {
            key: (asset, kind),
            entry,
        });
        if let Some(active) = writer.active.as_mut() {
            active.offset = offset + total;
        }
        Ok(seq)
    }

    /// The active segment and the offset at which a record of `total` bytes goes, starting a
    /// new segment when the current one has no room left (keeping room for its seal).
    fn room_for(&self, writer: &mut Writer, total: u64) -> Result<(Arc<Segment>, u64)> {
        let capacity = self.options.segment_capacity;
        if let Some(active) = &writer.active {
            if active.offset + total + SEAL_RECORD_LEN <= capacity {
                return Ok((Arc::clone(&active.segment), active.offset));
            }
            self.seal_locked(writer)?;
        }
        let number = writer.allocate_segment_number();
        let path = self.dir.join(segment::file_name(number, SEGMENT_SUFFIX));
        let segment = Arc::new(Segment::create(path, number, capacity)?);
        // The new file's directory entry must be durable before any record in it is
        // acknowledged.
        segment::sync_dir(&self.dir)?;
        self.segments
            .write()
            .unwrap_or_else(|poison| poison.into_inner())
            .insert(number, Arc::clone(&segment));
        writer.active = Some(Active {
            segment: Arc::clone(&segment),
            offset: 0,
        });
        Ok((segment, 0))
    }

    /// Seals the active segment, if any, flushing it; the next append starts a new one.
    pub(crate) fn seal_active(&self) -> Result<()> {
        let mut writer = self
            .writer
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        if self.poisoned.load(Ordering::Acquire) {
            return Err(StoreError::Poisoned);
        }
        self.seal_locked(&mut writer)
    }

    pub(crate) fn seal_locked(&self, writer: &mut Writer) -> Result<()> {
        let Some(active) = writer.active.take() else {
            return Ok(());
        };
        let seq = writer.next_seq;
        writer.next_seq += 1;
        if let Err(error) = active.segment.seal_at(active.offset, seq) {
            self.poisoned.store(true, Ordering::Release);
            return Err(error);
        }
        Ok(())
    }

    /// Returns once every record up to `seq` is on disk and visible, flushing if no one else
    /// is (group commit).
    pub(crate) fn commit(&self, seq: u64) -> Result<()> {
        let mut state = self
            .commit_state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        loop {
            if state.durable_seq >= seq {
                return Ok(());
            }
            if self.poisoned.load(Ordering::Acquire) {
                return Err(StoreError::Poisoned);
            }
            if state.flushing {
                state = self
                    .committed
                    .wait(state)
                    .unwrap_or_else(|poison| poison.into_inner());
                continue;
            }
            state.flushing = true;
            drop(state);
            let flushed = self.flush_pending();
            state = self
                .commit_state
                .lock()
                .unwrap_or_else(|poison| poison.into_inner());
            state.flushing = false;
            match flushed {
                Ok(upto) => state.durable_seq = state.durable_seq.max(upto),
                Err(_) => self.poisoned.store(true, Ordering::Release),
            }
            self.committed.notify_all();
            flushed?;
        }
    }

    /// Every record up to this sequence number is durable and published.
    pub(crate) fn durable_seq(&self) -> u64 {
        self.commit_state
            .lock()
            .unwrap_or_else(|poison| poison.into_inner())
            .durable_seq
    }

    /// The leader's work: flush everything appended so far, then publish it in order.
    fn flush_pending(&self) -> Result<u64> {
        let (segment, upto, batch) = {
            let mut writer = self
                .writer
                .lock()
                .unwrap_or_else(|poison| poison.into_inner());
            let segment = writer
                .active
                .as_ref()
                .map(|active| Arc::clone(&active.segment));
            (
                segment,
                writer.last_seq(),
                std::mem::take(&mut writer.pending),
            )
        };
        // Records in segments sealed since were flushed by the seal; only the active one can
        // hold unflushed records.
        if let Some(segment) = segment {
            segment.sync()?;
            self.flushes.fetch_add(1, Ordering::Relaxed);
        }
        let mut index = self
            .index
            .write()
            .unwrap_or_else(|poison| poison.into_inner());
        for pending in batch {
            match pending.entry {
                Some(entry) => {
                    index.insert(pending.key, entry);
                }
                None => {
                    index.remove(&pending.key);
                }
            }
        }
        Ok(upto)
    }
}
