//! The login-misuse detector: per seat (one API key), the networks it was used from
//! lately and how often it changed network.

use serde::{Deserialize, Serialize};

use crate::config::LoginConfig;
use crate::sketch::{SECOND, Window, name_hash};
use crate::{Reason, Signal};

const HOUR: u64 = 3_600 * SECOND;
const DAY: u64 = 86_400 * SECOND;
/// Seats followed per member, and networks per seat: past the thresholds anyway.
const SEATS: usize = 16;
const NETWORKS: usize = 16;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
struct SeatUse {
    seat: u64,
    last: u64,
    network: u64,
    switches: Window,
    /// Networks with when each was last used (newest first).
    networks: Vec<(u64, u64)>,
}

/// One member's login state (bounded: 16 seats × 16 networks).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Login {
    seats: Vec<SeatUse>,
    /// The seat used last, whose signals [`Login::signals`] reports.
    last_seat: u64,
}

impl Login {
    pub(crate) fn used(&mut self, seat: &str, network: &str, now: u64) {
        let (seat, network) = (name_hash(seat), name_hash(network));
        let index = match self.seats.iter().position(|used| used.seat == seat) {
            Some(index) => index,
            None => {
                if self.seats.len() == SEATS {
                    let oldest = (0..SEATS).min_by_key(|&i| self.seats[i].last).unwrap_or(0);
                    self.seats.swap_remove(oldest);
                }
                self.seats.push(SeatUse {
                    seat,
                    network,
                    ..SeatUse::default()
                });
                self.seats.len() - 1
            }
        };
        let used = &mut self.seats[index];
        if used.network != network {
            used.switches.add(now, HOUR);
            used.network = network;
        }
        used.last = now;
        used.networks.retain(|(known, _)| *known != network);
        used.networks.insert(0, (network, now));
        used.networks.truncate(NETWORKS);
        self.last_seat = seat;
    }

    pub(crate) fn signals(
        &self,
        now: u64,
        streams: u32,
        seats: u32,
        config: &LoginConfig,
    ) -> Vec<Reason> {
        let used = self.seats.iter().find(|used| used.seat == self.last_seat);
        let within = |span: u64| {
            used.map_or(0, |used| {
                used.networks
                    .iter()
                    .filter(|(_, at)| now.saturating_sub(*at) <= span)
                    .count()
            }) as f64
        };
        let concurrent = within(config.concurrent_secs * SECOND);
        let daily = within(DAY);
        let switches = used.map_or(0.0, |used| used.switches.estimate(now, HOUR));
        let stream_limit = f64::from(config.streams_per_seat * seats.max(1));
        let limit = |value: f64, threshold: f64, signal| {
            Reason::new(signal, value, threshold, value > threshold, 1.0)
        };
        vec![
            limit(
                concurrent,
                f64::from(config.concurrent_networks),
                Signal::ConcurrentNetworks,
            ),
            limit(
                daily,
                f64::from(config.networks_per_day),
                Signal::NetworksPerDay,
            ),
            limit(
                switches,
                f64::from(config.switches_per_hour),
                Signal::Switches,
            ),
            limit(f64::from(streams), stream_limit, Signal::Streams),
        ]
    }
}
