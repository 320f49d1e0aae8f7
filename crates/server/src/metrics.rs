//! Prometheus metrics, kept in atomics (no lock on the request path) and written out in
//! the text exposition format at `/metrics`: requests by route and status class, latency
//! histograms, bytes sent, preview cache hits and misses, renders, throttled streams,
//! fair-use refusals and flags, and connections.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::Duration;

use crate::routes::Route;

/// Upper bounds of the latency buckets, in seconds.
const BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0, 30.0,
];

#[derive(Debug, Default)]
struct RouteMetrics {
    /// By status class: 1xx … 5xx.
    by_class: [AtomicU64; 5],
    /// Cumulative counts are computed at export; each request lands in one bucket (the
    /// last is everything slower).
    buckets: [AtomicU64; BUCKETS.len() + 1],
    micros: AtomicU64,
    bytes: AtomicU64,
}

/// Every counter the server keeps (the platform keeps its own: renders, throttled streams,
/// quota refusals, flags).
#[derive(Debug)]
pub struct Metrics {
    routes: Vec<RouteMetrics>,
    pub preview_hits: AtomicU64,
    pub preview_misses: AtomicU64,
    pub rate_limited: AtomicU64,
    pub connections: AtomicU64,
    pub open_connections: AtomicI64,
    pub refused_connections: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Metrics {
        Metrics {
            routes: Route::ALL.iter().map(|_| RouteMetrics::default()).collect(),
            preview_hits: AtomicU64::new(0),
            preview_misses: AtomicU64::new(0),
            rate_limited: AtomicU64::new(0),
            connections: AtomicU64::new(0),
            open_connections: AtomicI64::new(0),
            refused_connections: AtomicU64::new(0),
        }
    }
}

impl Metrics {
    /// Counts one answered request.
    pub fn request(&self, route: Route, status: u16, elapsed: Duration, bytes: u64) {
        let Some(metrics) = self.routes.get(route as usize) else {
            return;
        };
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        metrics.by_class[class].fetch_add(1, Ordering::Relaxed);
        let seconds = elapsed.as_secs_f64();
        let bucket = BUCKETS
            .iter()
            .position(|bound| seconds <= *bound)
            .unwrap_or(BUCKETS.len());
        metrics.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        metrics
            .micros
            .fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
        metrics.bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// The text exposition format (version 0.0.4).
    pub fn render(&self, platform: &stockroom_platform::Counters) -> String {
        let mut out = String::new();
        out.push_str("# HELP stockroom_http_requests_total Requests answered, by route and status class.\n# TYPE stockroom_http_requests_total counter\n");
        for (route, metrics) in Route::ALL.iter().zip(&self.routes) {
            for (class, count) in metrics.by_class.iter().enumerate() {
                let count = count.load(Ordering::Relaxed);
                if count > 0 {
                    let _ = writeln!(
                        out,
                        "stockroom_http_requests_total{{route=\"{}\",code=\"{}xx\"}} {count}",
                        route.name(),
                        class + 1
                    );
                }
            }
        }
        out.push_str("# HELP stockroom_http_request_duration_seconds Time from request head to response head.\n# TYPE stockroom_http_request_duration_seconds histogram\n");
        for (route, metrics) in Route::ALL.iter().zip(&self.routes) {
            let counts: Vec<u64> = metrics
                .buckets
                .iter()
                .map(|count| count.load(Ordering::Relaxed))
                .collect();
            let total: u64 = counts.iter().sum();
            if total == 0 {
                continue;
            }
            let name = route.name();
            let mut cumulative = 0;
            for (bound, count) in BUCKETS.iter().zip(&counts) {
                cumulative += count;
                let _ = writeln!(
                    out,
                    "stockroom_http_request_duration_seconds_bucket{{route=\"{name}\",le=\"{bound}\"}} {cumulative}"
                );
            }
            let seconds = metrics.micros.load(Ordering::Relaxed) as f64 / 1e6;
            let _ = writeln!(
                out,
                "stockroom_http_request_duration_seconds_bucket{{route=\"{name}\",le=\"+Inf\"}} {total}\nstockroom_http_request_duration_seconds_sum{{route=\"{name}\"}} {seconds}\nstockroom_http_request_duration_seconds_count{{route=\"{name}\"}} {total}"
            );
        }
        out.push_str("# HELP stockroom_http_response_bytes_total Body bytes answered, by route.\n# TYPE stockroom_http_response_bytes_total counter\n");
        for (route, metrics) in Route::ALL.iter().zip(&self.routes) {
            let bytes = metrics.bytes.load(Ordering::Relaxed);
            if bytes > 0 {
                let _ = writeln!(
                    out,
                    "stockroom_http_response_bytes_total{{route=\"{}\"}} {bytes}",
                    route.name()
                );
            }
        }
        let counters = [
            (
                "stockroom_preview_cache_hits_total",
                "Previews answered from the in-memory cache.",
                &self.preview_hits,
            ),
            (
                "stockroom_preview_cache_misses_total",
                "Previews looked up in the store or rendered.",
                &self.preview_misses,
            ),
            (
                "stockroom_preview_renders_total",
                "Renders of an asset's previews (all three sizes at once).",
                &platform.renders,
            ),
            (
                "stockroom_preview_render_failures_total",
                "Renders that failed.",
                &platform.render_failures,
            ),
            (
                "stockroom_throttled_streams_total",
                "Downloads sent through a pacer.",
                &platform.throttled_streams,
            ),
            (
                "stockroom_rate_limited_total",
                "Requests refused 429 by a rate-limit policy.",
                &self.rate_limited,
            ),
            (
                "stockroom_quota_refusals_total",
                "Licences refused at the hard daily quota.",
                &platform.quota_refusals,
            ),
            (
                "stockroom_member_flags_total",
                "Members flagged by the stockpiling or login-misuse detector or the review level.",
                &platform.flags,
            ),
            (
                "stockroom_connections_total",
                "Connections accepted.",
                &self.connections,
            ),
            (
                "stockroom_refused_connections_total",
                "Connections closed at once because the limit was reached.",
                &self.refused_connections,
            ),
        ];
        for (name, help, value) in counters {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}",
                value.load(Ordering::Relaxed)
            );
        }
        let _ = writeln!(
            out,
            "# HELP stockroom_open_connections Connections open now.\n# TYPE stockroom_open_connections gauge\nstockroom_open_connections {}",
            self.open_connections.load(Ordering::Relaxed)
        );
        out
    }
}
