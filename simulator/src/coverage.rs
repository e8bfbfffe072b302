//! What a run explored: the catalogue of coverage points ("sometimes" assertions), each a
//! behaviour a Raft expert wants a simulation to reach at least sometimes, counted from the real
//! code as it runs.
//!
//! Three sources feed it:
//!
//! - raft's own counters ([`raft::coverage`]): elections, replication, reads, membership;
//! - the node driver's ([`kvapp::coverage`]): sessions, the apply loop, recovery from disk;
//! - the world's ([`world`]): what only the world can see, such as a vote lost in a crash and
//!   given again in the same term, a duplicate or reordered message reaching raft, a restart
//!   within an election timeout of the crash.
//!
//! A run counts every point (`raftsim run` lists the points reached); a sweep counts the seeds
//! that reached each ([`CoverageTable`]), and the gate compares those counts with the floors
//! kept in `simulator/coverage-floors.txt` ([`Floors`]), so that a change that silently stops
//! the simulator from exploring something fails the gate.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::Serialize;

/// The world's own coverage points.
pub mod world {
    raft::coverage_points! {
        /// A message the network duplicated reached raft a second time.
        DuplicateDelivered => "network.duplicate_delivered",
        /// A message reached raft after a later message on the same link (reordering).
        ReorderedDelivered => "network.reordered_delivered",
        /// A crash lost pending (unsynced) disk writes, or tore one at a sector boundary.
        CrashLostPendingWrites => "storage.crash_lost_pending_writes",
        /// A crash struck inside a disk operation (a write, sync, rename or remove half done).
        CrashInsideDiskOperation => "storage.crash_inside_disk_operation",
        /// A node restarted with an older term or vote than it held before its crash: the
        /// change had not reached the disk.
        CrashLostUnsyncedHardState => "storage.crash_lost_unsynced_hard_state",
        /// A node restarted with fewer log entries than it held before its crash.
        CrashLostUnsyncedEntries => "storage.crash_lost_unsynced_entries",
        /// A node voted in a term, lost that vote in a crash, and voted in the same term again.
        VoteLostThenGivenAgain => "storage.vote_lost_then_given_again",
        /// A node read a damaged sector or a file with a flipped bit.
        DamagedDataRead => "storage.damaged_data_read",
        /// A node refused to start from its damaged disk (it is destroyed, never a bug).
        DamagedDiskRefused => "storage.damaged_disk_refused",
        /// A node started from a disk an injected fault had damaged.
        DamagedDiskRecovered => "storage.damaged_disk_recovered",
        /// A crashed node restarted within one election timeout of its crash.
        RestartWithinElectionTimeout => "process.restart_within_election_timeout",
        /// A node crashed while it campaigned (a candidate or pre-candidate).
        CrashDuringElection => "process.crash_during_election",
        /// The leader crashed.
        LeaderCrashed => "process.leader_crashed",
        /// The leader was paused (it stops processing, its timers and messages wait).
        LeaderPaused => "process.leader_paused",
        /// Three leaders in a row within a few election timeouts: a chain of leader changes.
        LeaderChain => "process.leader_chain",
    }
}

/// The groups points are listed in, in order; a point's group is its name's first part.
pub const GROUPS: [&str; 8] = [
    "elections",
    "replication",
    "reads",
    "membership",
    "storage",
    "process",
    "network",
    "kvapp",
];

/// One point of the catalogue.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Its dotted name, `group.what`.
    pub name: &'static str,
    /// What it counts.
    pub description: &'static str,
}

/// Every point, grouped in [`GROUPS`] order (within a group: raft's, then the driver's, then
/// the world's, each in declaration order). The position of a point here is its index in
/// [`RunCoverage::counts`] and [`CoverageTable`].
pub fn catalogue() -> &'static [Entry] {
    static CATALOGUE: std::sync::OnceLock<Vec<Entry>> = std::sync::OnceLock::new();
    CATALOGUE.get_or_init(|| {
        let unsorted: Vec<Entry> = raft::coverage::Point::ALL
            .iter()
            .map(|point| Entry {
                name: point.name(),
                description: point.description(),
            })
            .chain(kvapp::coverage::Point::ALL.iter().map(|point| Entry {
                name: point.name(),
                description: point.description(),
            }))
            .chain(world::Point::ALL.iter().map(|point| Entry {
                name: point.name(),
                description: point.description(),
            }))
            .collect();
        let mut entries = Vec::with_capacity(unsorted.len());
        for group in GROUPS {
            entries.extend(
                unsorted
                    .iter()
                    .filter(|entry| group_of(entry.name) == group)
                    .copied(),
            );
        }
        entries
    })
}

/// The group of a point's name.
pub fn group_of(name: &str) -> &str {
    name.split_once('.').map_or(name, |(group, _)| group)
}

/// Where each source's points sit in [`catalogue`].
fn positions() -> &'static (Vec<usize>, Vec<usize>, Vec<usize>) {
    static POSITIONS: std::sync::OnceLock<(Vec<usize>, Vec<usize>, Vec<usize>)> =
        std::sync::OnceLock::new();
    POSITIONS.get_or_init(|| {
        let position = |name: &str| {
            catalogue()
                .iter()
                .position(|entry| entry.name == name)
                .unwrap_or_else(|| panic!("coverage point {name} is in no group"))
        };
        (
            raft::coverage::Point::ALL
                .iter()
                .map(|point| position(point.name()))
                .collect(),
            kvapp::coverage::Point::ALL
                .iter()
                .map(|point| position(point.name()))
                .collect(),
            world::Point::ALL
                .iter()
                .map(|point| position(point.name()))
                .collect(),
        )
    })
}

/// The coverage of one run: every node life's counters added up, and the world's.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunCoverage {
    /// Raft's counters over every node and life.
    pub raft: raft::coverage::Counts,
    /// The node driver's counters over every node and life.
    pub kvapp: kvapp::coverage::Counts,
    /// The world's own.
    pub world: world::Counts,
}

impl RunCoverage {
    /// Counts `point` of the world.
    pub fn hit(&mut self, point: world::Point) {
        self.world.hit(point);
    }

    /// Adds one node life's counters.
    pub fn add_node(&mut self, raft: &raft::coverage::Counts, kvapp: &kvapp::coverage::Counts) {
        self.raft.add(raft);
        self.kvapp.add(kvapp);
    }

    /// Every point's count, in [`catalogue`] order.
    pub fn counts(&self) -> Vec<u64> {
        let (raft, kvapp, world) = positions();
        let mut counts = vec![0; catalogue().len()];
        for ((_, count), &position) in self.raft.iter().zip(raft) {
            counts[position] = count;
        }
        for ((_, count), &position) in self.kvapp.iter().zip(kvapp) {
            counts[position] = count;
        }
        for ((_, count), &position) in self.world.iter().zip(world) {
            counts[position] = count;
        }
        counts
    }

    /// The [`catalogue`] positions of the points reached.
    pub fn reached(&self) -> Vec<u16> {
        self.counts()
            .iter()
            .enumerate()
            .filter(|(_, &count)| count > 0)
            .map(|(position, _)| position as u16)
            .collect()
    }

    /// The points reached with their counts, a line per group, for the run report.
    pub fn text(&self) -> String {
        let counts = self.counts();
        let reached = counts.iter().filter(|&&count| count > 0).count();
        let mut out = format!(
            "{reached} of {} points reached (raftsim sweep tabulates them)\n",
            counts.len()
        );
        for group in GROUPS {
            let points: Vec<String> = catalogue()
                .iter()
                .zip(&counts)
                .filter(|(entry, &count)| count > 0 && group_of(entry.name) == group)
                .map(|(entry, count)| format!("{} {count}", &entry.name[group.len() + 1..]))
                .collect();
            if !points.is_empty() {
                let _ = writeln!(out, "{group}: {}", points.join(", "));
            }
        }
        out
    }
}

impl Serialize for RunCoverage {
    /// The points reached, by name, with their counts.
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let map: BTreeMap<&str, u64> = catalogue()
            .iter()
            .zip(self.counts())
            .filter(|(_, count)| *count > 0)
            .map(|(entry, count)| (entry.name, count))
            .collect();
        map.serialize(serializer)
    }
}

/// How many seeds of a sweep reached each point.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoverageTable {
    /// Seeds counted.
    pub seeds: u64,
    /// Per point, in [`catalogue`] order: seeds that reached it.
    pub reached_by: Vec<u64>,
}

/// One row of the table, as JSON shows it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Row {
    /// The point.
    pub point: &'static str,
    /// Seeds that reached it.
    pub seeds: u64,
    /// The share of the sweep's seeds.
    pub share: f64,
    /// What it counts.
    pub description: &'static str,
}

impl CoverageTable {
    /// An empty table.
    pub fn new() -> CoverageTable {
        CoverageTable {
            seeds: 0,
            reached_by: vec![0; catalogue().len()],
        }
    }

    /// Counts one seed that reached the points at `reached` ([`RunCoverage::reached`]).
    pub fn add_seed(&mut self, reached: &[u16]) {
        self.seeds += 1;
        for &position in reached {
            self.reached_by[position as usize] += 1;
        }
    }

    /// The rows, the points no seed reached first, then the rarest first (ties in catalogue
    /// order).
    pub fn rows(&self) -> Vec<Row> {
        let mut rows: Vec<Row> = catalogue()
            .iter()
            .zip(&self.reached_by)
            .map(|(entry, &seeds)| Row {
                point: entry.name,
                seeds,
                share: if self.seeds == 0 {
                    0.0
                } else {
                    seeds as f64 / self.seeds as f64
                },
                description: entry.description,
            })
            .collect();
        rows.sort_by_key(|row| row.seeds);
        rows
    }

    /// The table a person reads.
    pub fn text(&self) -> String {
        let rows = self.rows();
        let unreached = rows.iter().filter(|row| row.seeds == 0).count();
        let mut out = format!(
            "coverage: {} of {} points reached by at least one of {} seeds\n",
            rows.len() - unreached,
            rows.len(),
            self.seeds
        );
        if unreached > 0 {
            let names: Vec<&str> = rows
                .iter()
                .filter(|row| row.seeds == 0)
                .map(|row| row.point)
                .collect();
            let _ = writeln!(out, "  never reached: {}", names.join(", "));
        }
        let _ = writeln!(out, "  {:<50} {:>7} {:>7}", "point", "seeds", "share");
        for row in rows.iter().filter(|row| row.seeds > 0) {
            let _ = writeln!(
                out,
                "  {:<50} {:>7} {:>6.1}%",
                row.point,
                row.seeds,
                100.0 * row.share
            );
        }
        out
    }
}

impl Default for CoverageTable {
    fn default() -> CoverageTable {
        CoverageTable::new()
    }
}

impl Serialize for CoverageTable {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Table {
            seeds: u64,
            points: usize,
            reached: usize,
            rows: Vec<Row>,
        }
        let rows = self.rows();
        Table {
            seeds: self.seeds,
            points: rows.len(),
            reached: rows.iter().filter(|row| row.seeds > 0).count(),
            rows,
        }
        .serialize(serializer)
    }
}

/// The least number of seeds of the gate's sweep that must reach each point: the file
/// `simulator/coverage-floors.txt`, one `point seeds` line per point (`#` starts a comment).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Floors {
    /// Per point name, the least seeds.
    pub floors: BTreeMap<String, u64>,
}

/// A point whose count fell below its floor.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FloorMiss {
    /// The point.
    pub point: String,
    /// Seeds that reached it.
    pub seeds: u64,
    /// Seeds that must.
    pub floor: u64,
}

impl Floors {
    /// Parses the floors file; `file` names it in errors.
    pub fn parse(text: &str, file: &str) -> Result<Floors, String> {
        let known: Vec<&str> = catalogue().iter().map(|entry| entry.name).collect();
        let mut floors = BTreeMap::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or_default().trim();
            if line.is_empty() {
                continue;
            }
            let place = format!("{file}:{}", number + 1);
            let mut words = line.split_whitespace();
            let (Some(point), Some(floor), None) = (words.next(), words.next(), words.next())
            else {
                return Err(format!("{place}: expected `point seeds`, found {line:?}"));
            };
            if !known.contains(&point) {
                return Err(format!(
                    "{place}: no coverage point named {point:?} (raftsim sweep lists them)"
                ));
            }
            let floor: u64 = floor
                .parse()
                .map_err(|_| format!("{place}: {floor:?} is not a number of seeds"))?;
            if floors.insert(point.to_string(), floor).is_some() {
                return Err(format!("{place}: {point} is listed twice"));
            }
        }
        Ok(Floors { floors })
    }

    /// The floors a sweep's table sets: half the seeds that reached each point, rounded up
    /// (a point no seed reached gets no floor).
    pub fn from_table(table: &CoverageTable) -> Floors {
        Floors {
            floors: catalogue()
                .iter()
                .zip(&table.reached_by)
                .filter(|(_, &seeds)| seeds > 0)
                .map(|(entry, &seeds)| (entry.name.to_string(), seeds.div_ceil(2)))
                .collect(),
        }
    }

    /// The file's text; `header` becomes its leading comment.
    pub fn text(&self, header: &str) -> String {
        let mut out = String::new();
        for line in header.lines() {
            let _ = writeln!(out, "# {line}");
        }
        for entry in catalogue() {
            if let Some(floor) = self.floors.get(entry.name) {
                let _ = writeln!(out, "{} {floor}", entry.name);
            }
        }
        out
    }

    /// The floors for a sweep of `seeds` seeds, from floors set for `gate_seeds`: each in
    /// proportion, rounded down. A floor is half of what the gate's seeds reached, so a sweep
    /// of a part of them falls below its share only when something stopped reaching the point.
    pub fn scaled(&self, gate_seeds: u64, seeds: u64) -> Floors {
        Floors {
            floors: self
                .floors
                .iter()
                .map(|(point, &floor)| (point.clone(), floor * seeds / gate_seeds.max(1)))
                .collect(),
        }
    }

    /// The points of `table` below their floor.
    pub fn misses(&self, table: &CoverageTable) -> Vec<FloorMiss> {
        catalogue()
            .iter()
            .zip(&table.reached_by)
            .filter_map(|(entry, &seeds)| {
                let floor = *self.floors.get(entry.name)?;
                (seeds < floor).then(|| FloorMiss {
                    point: entry.name.to_string(),
                    seeds,
                    floor,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_has_every_point_once_and_in_a_group() {
        let names: Vec<&str> = catalogue().iter().map(|entry| entry.name).collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "a name is used twice: {names:?}");
        assert_eq!(
            names.len(),
            raft::coverage::Point::ALL.len()
                + kvapp::coverage::Point::ALL.len()
                + world::Point::ALL.len()
        );
        for entry in catalogue() {
            assert!(GROUPS.contains(&group_of(entry.name)), "{}", entry.name);
        }
    }

    #[test]
    fn counts_land_on_their_points_and_tables_count_seeds() {
        let mut run = RunCoverage::default();
        run.hit(world::Point::LeaderCrashed);
        run.hit(world::Point::LeaderCrashed);
        let mut raft_counts = raft::coverage::Counts::default();
        raft_counts.hit(raft::coverage::Point::VoteGranted);
        run.add_node(&raft_counts, &kvapp::coverage::Counts::default());
        let counts = run.counts();
        let at = |name: &str| {
            catalogue()
                .iter()
                .position(|entry| entry.name == name)
                .unwrap()
        };
        assert_eq!(counts[at("process.leader_crashed")], 2);
        assert_eq!(counts[at("elections.vote_granted")], 1);
        assert_eq!(counts.iter().sum::<u64>(), 3);
        let json = serde_json::to_string(&run).unwrap();
        assert_eq!(
            json,
            r#"{"elections.vote_granted":1,"process.leader_crashed":2}"#
        );
        assert!(
            run.text().contains("process: leader_crashed 2"),
            "{}",
            run.text()
        );

        let mut table = CoverageTable::new();
        table.add_seed(&run.reached());
        table.add_seed(&[]);
        let rows = table.rows();
        assert_eq!(rows.last().unwrap().seeds, 1);
        assert_eq!(rows[0].seeds, 0);
        let floors = Floors::from_table(&table);
        assert_eq!(floors.floors.len(), 2);
        assert!(floors.misses(&table).is_empty());
        let mut emptier = CoverageTable::new();
        emptier.add_seed(&[at("elections.vote_granted") as u16]);
        let misses = floors.misses(&emptier);
        assert_eq!(misses.len(), 1);
        assert_eq!(misses[0].point, "process.leader_crashed");
    }

    #[test]
    fn floors_round_trip_and_bad_lines_are_named() {
        let mut table = CoverageTable::new();
        for _ in 0..5 {
            table.add_seed(&[0, 1]);
        }
        let floors = Floors::from_table(&table);
        let text = floors.text("gate: seeds 0..5");
        assert!(text.starts_with("# gate: seeds 0..5\n"), "{text}");
        assert_eq!(Floors::parse(&text, "f").unwrap(), floors);
        let first = catalogue()[0].name;
        assert!(Floors::parse("nonsense.point 3", "f")
            .unwrap_err()
            .contains("f:1: no coverage point named"));
        assert!(Floors::parse(&format!("\n{first} three"), "f")
            .unwrap_err()
            .contains("f:2: \"three\" is not a number"));
        assert!(Floors::parse(&format!("{first} 1\n{first} 2"), "f")
            .unwrap_err()
            .contains("listed twice"));
        assert!(Floors::parse(&format!("{first} 1 2"), "f")
            .unwrap_err()
            .contains("expected `point seeds`"));
    }
}
