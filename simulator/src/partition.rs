//! Partition shapes as connectivity matrices: `allowed(from, to)` says whether a message from
//! `from` can reach `to`. Nodes are numbered from 1 as in the cluster.

use crate::options::PartitionMode;
use crate::random::SimRng;

/// Which directed links carry messages.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connectivity {
    node_count: usize,
    /// Row-major `from * node_count + to`, zero-based.
    allowed: Vec<bool>,
}

impl Connectivity {
    /// Every link up.
    pub fn full(node_count: usize) -> Connectivity {
        Connectivity {
            node_count,
            allowed: vec![true; node_count * node_count],
        }
    }

    /// Whether `from` reaches `to` (ids from 1).
    pub fn allowed(&self, from: u64, to: u64) -> bool {
        self.allowed[(from as usize - 1) * self.node_count + (to as usize - 1)]
    }

    fn set(&mut self, from: usize, to: usize, allowed: bool) {
        self.allowed[from * self.node_count + to] = allowed;
    }

    /// Whether every link is up.
    pub fn is_full(&self) -> bool {
        self.allowed.iter().all(|&allowed| allowed)
    }

    /// Nodes talk within their group only; `groups` hold ids from 1, and nodes in no group
    /// form one more group together. Each node must be in at most one group.
    pub fn groups(node_count: usize, groups: &[Vec<u64>]) -> Connectivity {
        let mut group = vec![groups.len(); node_count];
        for (index, members) in groups.iter().enumerate() {
            for &node in members {
                group[node as usize - 1] = index;
            }
        }
        Connectivity::from_groups(&group, |a, b| a == b)
    }

    /// Every link up but the directed `[from, to]` links of `cut` (ids from 1).
    pub fn cut(node_count: usize, cut: &[[u64; 2]]) -> Connectivity {
        let mut connectivity = Connectivity::full(node_count);
        for [from, to] in cut {
            connectivity.set(*from as usize - 1, *to as usize - 1, false);
        }
        connectivity
    }

    /// The groups, when the links form groups that talk within themselves only (ids from 1,
    /// each group in id order, groups by their first member).
    pub fn as_groups(&self) -> Option<Vec<Vec<u64>>> {
        let n = self.node_count as u64;
        let mut groups: Vec<Vec<u64>> = Vec::new();
        for node in 1..=n {
            match groups.iter_mut().find(|group| self.allowed(group[0], node)) {
                Some(group) => group.push(node),
                None => groups.push(vec![node]),
            }
        }
        let same = |a: u64, b: u64| {
            groups
                .iter()
                .any(|group| group.contains(&a) && group.contains(&b))
        };
        let consistent = (1..=n).all(|a| (1..=n).all(|b| self.allowed(a, b) == same(a, b)));
        consistent.then_some(groups)
    }

    /// The directed links that carry nothing (ids from 1).
    pub fn cut_links(&self) -> Vec<[u64; 2]> {
        let n = self.node_count as u64;
        (1..=n)
            .flat_map(|from| (1..=n).map(move |to| [from, to]))
            .filter(|&[from, to]| !self.allowed(from, to))
            .collect()
    }

    /// Cuts every link between the groups both ways; `group[i]` is zero-based node i's group,
    /// and `reach(a, b)` says which groups talk.
    fn from_groups(group: &[usize], reach: impl Fn(usize, usize) -> bool) -> Connectivity {
        let node_count = group.len();
        let mut connectivity = Connectivity::full(node_count);
        for from in 0..node_count {
            for to in 0..node_count {
                connectivity.set(from, to, reach(group[from], group[to]));
            }
        }
        connectivity
    }

    /// Draws a partition of `mode` over `node_count` nodes, and describes it.
    pub fn draw(
        mode: PartitionMode,
        node_count: usize,
        rng: &mut SimRng,
    ) -> (Connectivity, String) {
        let mut order: Vec<usize> = (0..node_count).collect();
        rng.shuffle(&mut order);
        let ids = |nodes: &[usize]| {
            nodes
                .iter()
                .map(|node| (node + 1).to_string())
                .collect::<Vec<_>>()
                .join(",")
        };
        if node_count < 2 {
            return (
                Connectivity::full(node_count),
                "none (one node)".to_string(),
            );
        }
        match mode {
            PartitionMode::IsolateOne => {
                let isolated = order[0];
                let mut group = vec![0; node_count];
                group[isolated] = 1;
                (
                    Connectivity::from_groups(&group, |a, b| a == b),
                    format!("isolate {}", isolated + 1),
                )
            }
            PartitionMode::RandomHalves => {
                let split = rng.between(1, node_count as u64 - 1) as usize;
                let mut group = vec![0; node_count];
                for &node in &order[split..] {
                    group[node] = 1;
                }
                (
                    Connectivity::from_groups(&group, |a, b| a == b),
                    format!(
                        "halves [{}] [{}]",
                        ids(&order[..split]),
                        ids(&order[split..])
                    ),
                )
            }
            PartitionMode::MajoritiesRing => {
                // Node at ring position p sees positions within distance d, itself included:
                // 2d + 1 nodes, the smallest such number that is a majority.
                let majority = node_count / 2 + 1;
                let reach = majority.saturating_sub(1).div_ceil(2);
                let mut position = vec![0; node_count];
                for (place, &node) in order.iter().enumerate() {
                    position[node] = place;
                }
                let connectivity = Connectivity::from_groups(&position, |a, b| {
                    let distance = a.abs_diff(b);
                    distance.min(node_count - distance) <= reach
                });
                (connectivity, format!("majorities ring [{}]", ids(&order)))
            }
            PartitionMode::Bridge => {
                // Groups: 0 and 1 talk only through the bridge (group 2).
                let bridge = order[0];
                let half = (node_count - 1) / 2;
                let mut group = vec![1; node_count];
                group[bridge] = 2;
                for &node in &order[1..1 + half] {
                    group[node] = 0;
                }
                let left: Vec<usize> = order[1..1 + half].to_vec();
                let right: Vec<usize> = order[1 + half..].to_vec();
                (
                    Connectivity::from_groups(&group, |a, b| a == b || a == 2 || b == 2),
                    format!(
                        "bridge {} between [{}] [{}]",
                        bridge + 1,
                        ids(&left),
                        ids(&right)
                    ),
                )
            }
            PartitionMode::OneWay => {
                let node = order[0];
                let outbound = rng.chance(0.5);
                let mut connectivity = Connectivity::full(node_count);
                for other in 0..node_count {
                    if other != node {
                        if outbound {
                            connectivity.set(node, other, false);
                        } else {
                            connectivity.set(other, node, false);
                        }
                    }
                }
                let direction = if outbound {
                    "cannot send"
                } else {
                    "cannot receive"
                };
                (connectivity, format!("one-way: {} {direction}", node + 1))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reachable_count(connectivity: &Connectivity, node: u64, n: u64) -> usize {
        (1..=n)
            .filter(|&other| connectivity.allowed(node, other) && connectivity.allowed(other, node))
            .count()
    }

    #[test]
    fn isolate_one_cuts_exactly_one_node() {
        let mut rng = SimRng::new(1);
        let (connectivity, _) = Connectivity::draw(PartitionMode::IsolateOne, 5, &mut rng);
        let counts: Vec<usize> = (1..=5)
            .map(|node| reachable_count(&connectivity, node, 5))
            .collect();
        assert_eq!(
            counts.iter().filter(|&&count| count == 1).count(),
            1,
            "{counts:?}"
        );
        assert_eq!(
            counts.iter().filter(|&&count| count == 4).count(),
            4,
            "{counts:?}"
        );
    }

    #[test]
    fn halves_are_symmetric_and_split() {
        for seed in 0..20 {
            let mut rng = SimRng::new(seed);
            let (connectivity, _) = Connectivity::draw(PartitionMode::RandomHalves, 5, &mut rng);
            assert!(!connectivity.is_full());
            for a in 1..=5 {
                for b in 1..=5 {
                    assert_eq!(connectivity.allowed(a, b), connectivity.allowed(b, a));
                }
            }
        }
    }

    #[test]
    fn in_a_majorities_ring_everyone_sees_a_majority_but_not_everyone() {
        for n in [5u64, 7] {
            let mut rng = SimRng::new(n);
            let (connectivity, _) =
                Connectivity::draw(PartitionMode::MajoritiesRing, n as usize, &mut rng);
            for node in 1..=n {
                let seen = reachable_count(&connectivity, node, n);
                assert!(seen as u64 > n / 2, "node {node} sees {seen} of {n}");
                assert!((seen as u64) < n, "node {node} sees everyone");
            }
        }
    }

    #[test]
    fn a_bridge_connects_two_groups_that_cannot_talk() {
        let mut rng = SimRng::new(3);
        let (connectivity, _) = Connectivity::draw(PartitionMode::Bridge, 5, &mut rng);
        let counts: Vec<usize> = (1..=5)
            .map(|node| reachable_count(&connectivity, node, 5))
            .collect();
        assert_eq!(
            counts.iter().filter(|&&count| count == 5).count(),
            1,
            "{counts:?}"
        );
        assert_eq!(
            counts.iter().filter(|&&count| count == 3).count(),
            4,
            "{counts:?}"
        );
    }

    #[test]
    fn every_drawn_shape_survives_groups_or_cut_links() {
        for mode in PartitionMode::ALL {
            for seed in 0..10 {
                let mut rng = SimRng::new(seed);
                let (drawn, _) = Connectivity::draw(mode, 5, &mut rng);
                let rebuilt = match drawn.as_groups() {
                    Some(groups) => Connectivity::groups(5, &groups),
                    None => Connectivity::cut(5, &drawn.cut_links()),
                };
                assert_eq!(rebuilt, drawn, "{mode:?} seed {seed}");
                assert_eq!(Connectivity::cut(5, &drawn.cut_links()), drawn);
            }
        }
        let isolated = Connectivity::groups(3, &[vec![1]]);
        assert_eq!(isolated.as_groups(), Some(vec![vec![1], vec![2, 3]]));
    }

    #[test]
    fn one_way_is_asymmetric() {
        let mut rng = SimRng::new(4);
        let (connectivity, _) = Connectivity::draw(PartitionMode::OneWay, 3, &mut rng);
        let asymmetric = (1..=3)
            .any(|a| (1..=3).any(|b| connectivity.allowed(a, b) != connectivity.allowed(b, a)));
        assert!(asymmetric);
    }
}
