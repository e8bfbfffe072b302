//! The simulated network: per directed link a delay distribution (which reorders messages),
//! loss, duplication, a capacity, clogging, and the current partition.
//!
//! The network decides; the world schedules. [`Network::send`] returns the arrival times of
//! a message (none, one, or two for a duplicate) and [`Network::arrive`] says whether a message
//! that reached its arrival time is delivered (a partition that started meanwhile drops it).
//! Messages are opaque bytes: the nodes encode and decode them with the real codec.

use raft::NodeId;
use serde::Serialize;

use crate::options::NetworkOptions;
use crate::partition::Connectivity;
use crate::random::{ExponentialTable, SimRng};

#[derive(Clone, Debug, Default)]
struct Link {
    in_flight: u64,
    clogged_until_ms: u64,
}

/// When the copies of one sent message arrive: none (lost), one, or two (duplicated). Inline,
/// because every message sent asks for one.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Arrivals {
    times: [u64; 2],
    count: usize,
}

impl Arrivals {
    /// The arrival times, in the order the copies were sent.
    pub fn as_slice(&self) -> &[u64] {
        &self.times[..self.count]
    }

    /// How many copies arrive.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the message is lost.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }
}

/// Why messages were not delivered, and other counters.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct NetworkStats {
    /// Messages handed to the network.
    pub sent: u64,
    /// Messages delivered to a running node.
    pub delivered: u64,
    /// Lost at random.
    pub dropped_loss: u64,
    /// Cut by a partition.
    pub dropped_partition: u64,
    /// Over a link's capacity.
    pub dropped_capacity: u64,
    /// Arrived at a node that was down.
    pub dropped_node_down: u64,
    /// Extra copies delivered.
    pub duplicated: u64,
    /// Messages held back by a clogged link.
    pub clogged: u64,
    /// Bytes handed to the network.
    pub bytes_sent: u64,
}

impl NetworkStats {
    /// Messages dropped for any reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_loss + self.dropped_partition + self.dropped_capacity + self.dropped_node_down
    }
}

/// The network of one run.
#[derive(Debug)]
pub struct Network {
    options: NetworkOptions,
    node_count: usize,
    links: Vec<Link>,
    connectivity: Connectivity,
    rng: SimRng,
    /// The delay's exponential excess, drawn without a logarithm per message.
    delay_excess: ExponentialTable,
    /// Counters.
    pub stats: NetworkStats,
}

impl Network {
    /// A healed network of `node_count` nodes.
    pub fn new(options: NetworkOptions, node_count: usize, rng: SimRng) -> Network {
        let delay_excess = ExponentialTable::new(
            options
                .one_way_delay_ms_mean
                .saturating_sub(options.one_way_delay_ms_min),
        );
        Network {
            options,
            node_count,
            links: vec![Link::default(); node_count * node_count],
            connectivity: Connectivity::full(node_count),
            rng,
            delay_excess,
            stats: NetworkStats::default(),
        }
    }

    fn link(&mut self, from: NodeId, to: NodeId) -> &mut Link {
        &mut self.links[(from as usize - 1) * self.node_count + (to as usize - 1)]
    }

    /// One delay draw: the minimum plus an exponential excess with the configured mean.
    pub fn delay_ms(&mut self) -> u64 {
        self.options.one_way_delay_ms_min + self.delay_excess.draw(&mut self.rng)
    }

    /// A message of `size_bytes` leaves `from` for `to` at `now_ms`; returns when its copies
    /// arrive (empty: lost).
    pub fn send(&mut self, now_ms: u64, from: NodeId, to: NodeId, size_bytes: usize) -> Arrivals {
        self.stats.sent += 1;
        self.stats.bytes_sent += size_bytes as u64;
        if !self.connectivity.allowed(from, to) {
            self.stats.dropped_partition += 1;
            return Arrivals::default();
        }
        if self.rng.chance(self.options.packet_loss_probability) {
            self.stats.dropped_loss += 1;
            return Arrivals::default();
        }
        let copies = if self.rng.chance(self.options.packet_duplicate_probability) {
            2
        } else {
            1
        };
        let mut arrivals = Arrivals::default();
        for copy in 0..copies {
            let capacity = self.options.link_capacity_messages;
            let link = self.link(from, to);
            if link.in_flight >= capacity {
                self.stats.dropped_capacity += 1;
                continue;
            }
            link.in_flight += 1;
            let departure = now_ms.max(link.clogged_until_ms);
            if departure > now_ms {
                self.stats.clogged += 1;
            }
            if copy > 0 {
                self.stats.duplicated += 1;
            }
            let at = departure + self.delay_ms();
            arrivals.times[arrivals.count] = at;
            arrivals.count += 1;
        }
        arrivals
    }

    /// A message from `from` reached `to`'s arrival time: whether the link still carries it.
    pub fn arrive(&mut self, from: NodeId, to: NodeId) -> bool {
        let link = self.link(from, to);
        link.in_flight = link.in_flight.saturating_sub(1);
        if self.connectivity.allowed(from, to) {
            true
        } else {
            self.stats.dropped_partition += 1;
            false
        }
    }

    /// Installs a partition.
    pub fn partition(&mut self, connectivity: Connectivity) {
        self.connectivity = connectivity;
    }

    /// Every link up again, clogs cleared.
    pub fn heal(&mut self, now_ms: u64) {
        self.connectivity = Connectivity::full(self.node_count);
        for link in &mut self.links {
            link.clogged_until_ms = link.clogged_until_ms.min(now_ms);
        }
    }

    /// Whether some partition is in force.
    pub fn is_partitioned(&self) -> bool {
        !self.connectivity.is_full()
    }

    /// Holds back `from`→`to` messages until `until_ms`.
    pub fn clog(&mut self, from: NodeId, to: NodeId, until_ms: u64) {
        let link = self.link(from, to);
        link.clogged_until_ms = link.clogged_until_ms.max(until_ms);
    }

    /// Calms the link behaviour for the liveness phase: no loss, no duplicates.
    pub fn calm(&mut self) {
        self.options.packet_loss_probability = 0.0;
        self.options.packet_duplicate_probability = 0.0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_reorder_messages_and_respect_the_minimum() {
        let options = NetworkOptions {
            one_way_delay_ms_min: 2,
            one_way_delay_ms_mean: 10,
            packet_loss_probability: 0.0,
            packet_duplicate_probability: 0.0,
            link_capacity_messages: 10_000,
        };
        let mut network = Network::new(options, 2, SimRng::new(9));
        let arrivals: Vec<u64> = (0..1000)
            .flat_map(|sent| network.send(sent, 1, 2, 10).as_slice().to_vec())
            .collect();
        assert_eq!(arrivals.len(), 1000);
        assert!(arrivals
            .iter()
            .enumerate()
            .all(|(sent, &arrival)| arrival >= sent as u64 + 2));
        let reordered = arrivals.windows(2).filter(|pair| pair[1] < pair[0]).count();
        assert!(reordered > 100, "only {reordered} reorderings");
        let mean = arrivals
            .iter()
            .enumerate()
            .map(|(sent, &arrival)| arrival - sent as u64)
            .sum::<u64>() as f64
            / 1000.0;
        assert!((8.0..12.0).contains(&mean), "mean delay {mean}");
    }

    #[test]
    fn capacity_partitions_loss_and_duplicates() {
        let options = NetworkOptions {
            one_way_delay_ms_min: 1,
            one_way_delay_ms_mean: 1,
            packet_loss_probability: 0.0,
            packet_duplicate_probability: 0.0,
            link_capacity_messages: 3,
        };
        let mut network = Network::new(options.clone(), 3, SimRng::new(1));
        let sent: usize = (0..5).map(|_| network.send(0, 1, 2, 1).len()).sum();
        assert_eq!(sent, 3);
        assert_eq!(network.stats.dropped_capacity, 2);
        assert!(network.arrive(1, 2));
        assert_eq!(network.send(0, 1, 2, 1).len(), 1);

        let mut rng = SimRng::new(2);
        let (cut, _) = Connectivity::draw(crate::options::PartitionMode::IsolateOne, 3, &mut rng);
        network.partition(cut);
        let lost: usize = (1..=3u64)
            .flat_map(|from| (1..=3u64).map(move |to| (from, to)))
            .filter(|(from, to)| from != to)
            .map(|(from, to)| network.send(0, from, to, 1).len())
            .filter(|&copies| copies == 0)
            .count();
        assert!(lost >= 4, "{lost}");
        network.heal(0);
        assert!(!network.is_partitioned());

        let lossy = NetworkOptions {
            packet_loss_probability: 1.0,
            ..options.clone()
        };
        let mut network = Network::new(lossy, 2, SimRng::new(3));
        assert!(network.send(0, 1, 2, 1).is_empty());
        let doubled = NetworkOptions {
            packet_duplicate_probability: 1.0,
            link_capacity_messages: 10,
            ..options
        };
        let mut network = Network::new(doubled, 2, SimRng::new(3));
        assert_eq!(network.send(0, 1, 2, 1).len(), 2);
    }

    #[test]
    fn a_clogged_link_holds_messages_back() {
        let mut network = Network::new(
            NetworkOptions {
                packet_loss_probability: 0.0,
                packet_duplicate_probability: 0.0,
                ..NetworkOptions::default()
            },
            2,
            SimRng::new(5),
        );
        network.clog(1, 2, 500);
        let arrival = network.send(10, 1, 2, 1);
        assert!(arrival.as_slice()[0] >= 500);
        let other = network.send(10, 2, 1, 1);
        assert!(other.as_slice()[0] < 500);
    }
}
