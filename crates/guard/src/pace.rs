//! Bandwidth pacing shared by all of a subject's downloads. Each subject has one schedule
//! (`next`: when its budget is next free); a stream that sends a chunk books the chunk's
//! time on that schedule and waits until its booking ends, so concurrent streams
//! interleave and together never exceed the rate (two streams get half each). A stream
//! that falls behind (a slow reader) books from now, less one chunk's time at most: the
//! timer's own lateness (a millisecond or so per wake-up) is made up, idle time is never
//! banked as more than one chunk's burst.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One subject's schedule and its open streams.
#[derive(Debug, Default)]
pub(crate) struct Schedule {
    next: Mutex<Option<Instant>>,
    streams: AtomicU32,
}

impl Schedule {
    pub(crate) fn streams(&self) -> u32 {
        self.streams.load(Ordering::Relaxed)
    }
}

/// One download's share of its subject's budget; counted among the subject's open
/// streams until dropped.
#[derive(Debug)]
pub struct Stream {
    schedule: Arc<Schedule>,
    /// Bytes per second, or `None` for an unthrottled stream (only counted).
    rate: Option<u64>,
}

impl Stream {
    pub(crate) fn open(schedule: Arc<Schedule>, rate: Option<u64>) -> Stream {
        schedule.streams.fetch_add(1, Ordering::Relaxed);
        Stream {
            schedule,
            rate: rate.filter(|rate| *rate > 0),
        }
    }

    /// Whether this stream is paced at all.
    pub fn rate(&self) -> Option<u64> {
        self.rate
    }

    /// Bytes to send at once: a twentieth of a second's worth (so the last chunk, which
    /// nothing waits after, skews the delivered rate by at most 50 ms of a download),
    /// between 4 KiB and 64 KiB.
    pub fn chunk(&self) -> usize {
        self.rate.map_or(usize::MAX, |rate| {
            (rate / 20).clamp(4 << 10, 64 << 10) as usize
        })
    }

    /// Books `bytes` just sent at `now`: how long to wait before sending more.
    pub fn delay_after(&self, bytes: u64, now: Instant) -> Duration {
        let Some(rate) = self.rate else {
            return Duration::ZERO;
        };
        let cost = Duration::from_secs_f64(bytes as f64 / rate as f64);
        let mut next = self
            .schedule
            .next
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        // One chunk's worth of lateness is forgiven (a twentieth of a second).
        let slack = Duration::from_secs_f64(self.chunk() as f64 / rate as f64);
        let earliest = now.checked_sub(slack).unwrap_or(now);
        let start = next.map_or(now, |next| next.max(earliest));
        let end = start + cost;
        *next = Some(end);
        end.saturating_duration_since(now)
    }
}

impl Drop for Stream {
    fn drop(&mut self) {
        self.schedule.streams.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Streams that send a chunk whenever their wait is over, on a simulated clock.
    fn delivered(streams: &[Stream], bytes_each: u64) -> Vec<(u64, Duration)> {
        let start = Instant::now();
        let mut ready = vec![start; streams.len()];
        let mut sent = vec![0u64; streams.len()];
        let mut finished = vec![Duration::ZERO; streams.len()];
        while let Some(i) = (0..streams.len())
            .filter(|&i| sent[i] < bytes_each)
            .min_by_key(|&i| ready[i])
        {
            let chunk = (streams[i].chunk() as u64).min(bytes_each - sent[i]);
            sent[i] += chunk;
            let now = ready[i];
            finished[i] = now - start;
            ready[i] = now + streams[i].delay_after(chunk, now);
        }
        sent.into_iter().zip(finished).collect()
    }

    #[test]
    fn one_stream_gets_the_rate() {
        let schedule = Arc::new(Schedule::default());
        let rate = 1 << 20;
        let stream = Stream::open(schedule.clone(), Some(rate));
        let outcome = delivered(std::slice::from_ref(&stream), 8 << 20);
        let (bytes, took) = outcome[0];
        let measured = bytes as f64 / took.as_secs_f64();
        assert!((measured / rate as f64 - 1.0).abs() < 0.01, "{measured}");
        assert_eq!(schedule.streams(), 1);
        drop(stream);
        assert_eq!(schedule.streams(), 0);
    }

    #[test]
    fn two_streams_share_the_rate_half_each() {
        let schedule = Arc::new(Schedule::default());
        let rate = 2 << 20;
        let streams = [
            Stream::open(schedule.clone(), Some(rate)),
            Stream::open(schedule.clone(), Some(rate)),
        ];
        for (bytes, took) in delivered(&streams, 8 << 20) {
            let measured = bytes as f64 / took.as_secs_f64();
            assert!(
                (measured / (rate / 2) as f64 - 1.0).abs() < 0.02,
                "{measured}"
            );
        }
    }

    #[test]
    fn a_late_timer_is_made_up_but_a_stall_is_not_banked() {
        let schedule = Arc::new(Schedule::default());
        let rate = 1 << 20;
        let stream = Stream::open(schedule, Some(rate));
        let chunk = stream.chunk() as u64;
        let start = Instant::now();
        let mut now = start;
        let mut sent = 0;
        // Every wake-up comes 2 ms late.
        while sent < 8 << 20 {
            let wait = stream.delay_after(chunk, now);
            sent += chunk;
            now += wait + Duration::from_millis(2);
        }
        let measured = sent as f64 / (now - start).as_secs_f64();
        assert!((measured / rate as f64 - 1.0).abs() < 0.01, "{measured}");
        // After ten idle seconds, only one chunk goes without waiting.
        now += Duration::from_secs(10);
        assert_eq!(stream.delay_after(chunk, now), Duration::ZERO);
        assert!(stream.delay_after(chunk, now) > Duration::from_millis(40));
    }

    #[test]
    fn an_unthrottled_stream_is_one_chunk_and_no_wait() {
        let stream = Stream::open(Arc::new(Schedule::default()), None);
        assert_eq!(stream.chunk(), usize::MAX);
        assert_eq!(stream.delay_after(1 << 30, Instant::now()), Duration::ZERO);
    }
}
