//! Graph clustering on plain data: a k-nearest-neighbour graph from a similarity matrix, its
//! communities by the Louvain method, and the two measures of a clustering the topics report
//! (modularity on the graph, silhouette on distances).
//!
//! A graph is a list of adjacency lists: node i's (neighbour, weight) edges, every edge listed
//! at both of its ends. Everything is deterministic: nodes are visited in order and ties go to
//! the lower id, so the same input gives the same clustering.

use std::collections::HashMap;

use rayon::prelude::*;

/// Each point linked to its `k` most similar points, weighted by similarity (at least a
/// thousandth, so that every link counts), made symmetric. `similarity` is the full `n × n`
/// matrix, row-major.
pub(super) fn neighbour_graph(similarity: &[f32], n: usize, k: usize) -> Vec<Vec<(usize, f32)>> {
    let mut weights: HashMap<(usize, usize), f32> = HashMap::new();
    for i in 0..n {
        let mut others: Vec<usize> = (0..n).filter(|&j| j != i).collect();
        others.sort_by(|&a, &b| {
            similarity[i * n + b]
                .total_cmp(&similarity[i * n + a])
                .then(a.cmp(&b))
        });
        for &j in others.iter().take(k) {
            weights.insert((i.min(j), i.max(j)), similarity[i * n + j].max(1e-3));
        }
    }
    let mut edges: Vec<((usize, usize), f32)> = weights.into_iter().collect();
    edges.sort_by_key(|&(e, _)| e);
    let mut adjacency = vec![Vec::new(); n];
    for ((i, j), w) in edges {
        adjacency[i].push((j, w));
        adjacency[j].push((i, w));
    }
    adjacency
}

/// Modularity of a labelling of a weighted graph.
pub(super) fn modularity(graph: &[Vec<(usize, f32)>], labels: &[usize]) -> f32 {
    let k = labels.iter().max().map_or(0, |&l| l + 1);
    let mut inside = vec![0.0f32; k];
    let mut degree = vec![0.0f32; k];
    let mut two_m = 0.0f32;
    for (i, edges) in graph.iter().enumerate() {
        for &(j, w) in edges {
            two_m += w;
            degree[labels[i]] += w;
            if labels[i] == labels[j] {
                inside[labels[i]] += w;
            }
        }
    }
    if two_m == 0.0 {
        return 0.0;
    }
    (0..k)
        .map(|c| inside[c] / two_m - (degree[c] / two_m).powi(2))
        .sum()
}

/// Louvain modularity optimisation, deterministic (nodes in order, ties to the lower id): a
/// community label per node, 0.. in order of first appearance.
pub(super) fn louvain(graph: &[Vec<(usize, f32)>]) -> Vec<usize> {
    let n = graph.len();
    let mut membership: Vec<usize> = (0..n).collect();
    let mut level: Vec<Vec<(usize, f32)>> = graph.to_vec();
    loop {
        let (communities, moved) = louvain_level(&level);
        if !moved {
            break;
        }
        let labels = compact_labels(&communities);
        let k = labels.iter().max().map_or(0, |&l| l + 1);
        membership.iter_mut().for_each(|m| *m = labels[*m]);
        let mut next: Vec<HashMap<usize, f32>> = vec![HashMap::new(); k];
        for (i, edges) in level.iter().enumerate() {
            for &(j, w) in edges {
                *next[labels[i]].entry(labels[j]).or_default() += w;
            }
        }
        level = next
            .into_iter()
            .map(|m| {
                let mut v: Vec<(usize, f32)> = m.into_iter().collect();
                v.sort_by_key(|e| e.0);
                v
            })
            .collect();
        if k == 1 {
            break;
        }
    }
    compact_labels(&membership)
}

/// One level of Louvain: local moves until none improves modularity. Self-loops (i, i) are
/// allowed and count in degrees.
fn louvain_level(graph: &[Vec<(usize, f32)>]) -> (Vec<usize>, bool) {
    let n = graph.len();
    let degree: Vec<f32> = graph.iter().map(|e| e.iter().map(|x| x.1).sum()).collect();
    let two_m: f32 = degree.iter().sum();
    let mut community: Vec<usize> = (0..n).collect();
    let mut total: Vec<f32> = degree.clone();
    let mut moved_any = false;
    if two_m == 0.0 {
        return (community, false);
    }
    for _ in 0..100 {
        let mut moved = false;
        for i in 0..n {
            let own = community[i];
            total[own] -= degree[i];
            let mut links: HashMap<usize, f32> = HashMap::new();
            for &(j, w) in &graph[i] {
                if j != i {
                    *links.entry(community[j]).or_default() += w;
                }
            }
            let gain = |c: usize, l: f32| l - total[c] * degree[i] / two_m;
            let mut best = own;
            let mut best_gain = gain(own, links.get(&own).copied().unwrap_or(0.0));
            let mut candidates: Vec<(usize, f32)> = links.into_iter().collect();
            candidates.sort_by_key(|c| c.0);
            for (c, l) in candidates {
                let g = gain(c, l);
                if g > best_gain + 1e-7 {
                    best = c;
                    best_gain = g;
                }
            }
            total[best] += degree[i];
            if best != own {
                community[i] = best;
                moved = true;
                moved_any = true;
            }
        }
        if !moved {
            break;
        }
    }
    (community, moved_any)
}

/// Labels renumbered 0.. in order of first appearance.
pub(super) fn compact_labels(raw: &[usize]) -> Vec<usize> {
    let mut map: HashMap<usize, usize> = HashMap::new();
    raw.iter()
        .map(|r| {
            let next = map.len();
            *map.entry(*r).or_insert(next)
        })
        .collect()
}

/// Mean silhouette of a labelling under a full `n × n` distance matrix, row-major; members of
/// singleton clusters count 0, as usual. The points' silhouettes are computed in parallel but
/// summed in order: a parallel sum of floats would depend on how the work was split.
pub(super) fn silhouette(distance: &[f32], n: usize, labels: &[usize]) -> f32 {
    let k = labels.iter().max().map_or(0, |&l| l + 1);
    if k < 2 {
        return 0.0;
    }
    let mut counts = vec![0usize; k];
    labels.iter().for_each(|&l| counts[l] += 1);
    let each: Vec<f32> = (0..n)
        .into_par_iter()
        .map(|i| {
            let own = labels[i];
            if counts[own] <= 1 {
                return 0.0;
            }
            let mut sums = vec![0.0f32; k];
            for j in 0..n {
                sums[labels[j]] += distance[i * n + j];
            }
            let a = sums[own] / (counts[own] - 1) as f32;
            let b = (0..k)
                .filter(|&c| c != own && counts[c] > 0)
                .map(|c| sums[c] / counts[c] as f32)
                .fold(f32::INFINITY, f32::min);
            let denominator = a.max(b);
            if denominator > 0.0 {
                (b - a) / denominator
            } else {
                0.0
            }
        })
        .collect();
    each.iter().sum::<f32>() / n as f32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Zachary's karate club (1977): 34 members and the 78 friendships between them, numbered
    /// from 1 as published.
    #[rustfmt::skip]
    const KARATE: [(usize, usize); 78] = [
        (1, 2), (1, 3), (1, 4), (1, 5), (1, 6), (1, 7), (1, 8), (1, 9), (1, 11), (1, 12),
        (1, 13), (1, 14), (1, 18), (1, 20), (1, 22), (1, 32), (2, 3), (2, 4), (2, 8), (2, 14),
        (2, 18), (2, 20), (2, 22), (2, 31), (3, 4), (3, 8), (3, 9), (3, 10), (3, 14), (3, 28),
        (3, 29), (3, 33), (4, 8), (4, 13), (4, 14), (5, 7), (5, 11), (6, 7), (6, 11), (6, 17),
        (7, 17), (9, 31), (9, 33), (9, 34), (10, 34), (14, 34), (15, 33), (15, 34), (16, 33),
        (16, 34), (19, 33), (19, 34), (20, 34), (21, 33), (21, 34), (23, 33), (23, 34),
        (24, 26), (24, 28), (24, 30), (24, 33), (24, 34), (25, 26), (25, 28), (25, 32),
        (26, 32), (27, 30), (27, 34), (28, 34), (29, 32), (29, 34), (30, 33), (30, 34),
        (31, 33), (31, 34), (32, 33), (32, 34), (33, 34),
    ];

    /// The instructor's side (with member 1) of the two factions as Zachary's maximum-flow cut
    /// drew them; the rest are the administrator's (34). The cut placed all members as the
    /// split went but one: member 9, who is on the administrator's side here, joined the
    /// instructor's club.
    const INSTRUCTOR_FACTION: [usize; 16] =
        [1, 2, 3, 4, 5, 6, 7, 8, 11, 12, 13, 14, 17, 18, 20, 22];

    /// An unweighted graph of `n` nodes from edges numbered from 0.
    fn graph(n: usize, edges: impl IntoIterator<Item = (usize, usize)>) -> Vec<Vec<(usize, f32)>> {
        let mut adjacency = vec![Vec::new(); n];
        for (i, j) in edges {
            adjacency[i].push((j, 1.0));
            adjacency[j].push((i, 1.0));
        }
        adjacency
    }

    fn karate() -> Vec<Vec<(usize, f32)>> {
        graph(34, KARATE.iter().map(|&(i, j)| (i - 1, j - 1)))
    }

    /// Two cliques of `size` nodes, 0.. and size.., joined by `bridges` edges.
    fn two_cliques(size: usize, bridges: &[(usize, usize)]) -> Vec<Vec<(usize, f32)>> {
        let clique = |offset: usize| {
            (0..size).flat_map(move |i| (i + 1..size).map(move |j| (offset + i, offset + j)))
        };
        graph(
            2 * size,
            clique(0).chain(clique(size)).chain(bridges.iter().copied()),
        )
    }

    fn count(labels: &[usize]) -> usize {
        labels.iter().max().map_or(0, |&l| l + 1)
    }

    #[test]
    fn louvain_reaches_the_known_modularity_of_the_karate_club() {
        let karate = karate();
        assert_eq!(karate.iter().map(Vec::len).sum::<usize>(), 2 * 78);
        let labels = louvain(&karate);
        let q = modularity(&karate, &labels);
        // Louvain's known optimum is 0.4188–0.4198, with four communities.
        assert!((0.41..0.43).contains(&q), "modularity {q}");
        assert_eq!(count(&labels), 4, "{labels:?}");
        // The instructor and the administrator end up apart.
        assert_ne!(labels[0], labels[33]);
    }

    #[test]
    fn modularity_of_the_karate_club_factions_is_the_published_one() {
        let karate = karate();
        let labels: Vec<usize> = (1..=34)
            .map(|m| usize::from(!INSTRUCTOR_FACTION.contains(&m)))
            .collect();
        let q = modularity(&karate, &labels);
        assert!((q - 0.3715).abs() < 1e-3, "modularity {q}");
        // And the split as it went is a little worse.
        let mut went = labels.clone();
        went[8] = 0;
        assert!((modularity(&karate, &went) - 0.3582).abs() < 1e-3);
    }

    #[test]
    fn modularity_of_trivial_partitions() {
        let karate = karate();
        assert_eq!(modularity(&karate, &[0; 34]), 0.0);
        // Every node alone: no link inside, minus what chance would put there.
        let two_m = 2.0 * 78.0;
        let expected: f32 = -karate
            .iter()
            .map(|e| (e.len() as f32 / two_m).powi(2))
            .sum::<f32>();
        let singletons: Vec<usize> = (0..34).collect();
        assert!((modularity(&karate, &singletons) - expected).abs() < 1e-6);
        // A graph without edges has none.
        assert_eq!(modularity(&graph(3, []), &[0, 1, 2]), 0.0);
        assert_eq!(louvain(&graph(3, [])), vec![0, 1, 2]);
    }

    #[test]
    fn louvain_separates_two_cliques() {
        for bridges in [&[][..], &[(0, 5)][..], &[(0, 5), (1, 6)][..]] {
            let labels = louvain(&two_cliques(5, bridges));
            assert_eq!(
                labels,
                [0, 0, 0, 0, 0, 1, 1, 1, 1, 1],
                "bridges {bridges:?}"
            );
        }
    }

    #[test]
    fn louvain_is_deterministic() {
        let karate = karate();
        let labels = louvain(&karate);
        for _ in 0..5 {
            assert_eq!(louvain(&karate), labels);
        }
        // Labels are numbered by first appearance.
        assert_eq!(labels, compact_labels(&labels));
    }

    #[test]
    fn compact_labels_number_by_first_appearance() {
        assert_eq!(compact_labels(&[7, 3, 7, 9, 3]), [0, 1, 0, 2, 1]);
        assert!(compact_labels(&[]).is_empty());
    }

    #[test]
    fn a_neighbour_graph_links_each_point_to_its_nearest_both_ways() {
        // Points on a line at 0, 1, 2, 10, 11; similarity falls with distance.
        let at = [0.0f32, 1.0, 2.0, 10.0, 11.0];
        let n = at.len();
        let similarity: Vec<f32> = (0..n * n)
            .map(|ij| 1.0 / (1.0 + (at[ij / n] - at[ij % n]).abs()))
            .collect();
        let graph = neighbour_graph(&similarity, n, 1);
        let neighbours = |i: usize| graph[i].iter().map(|e| e.0).collect::<Vec<_>>();
        // 0 and 2 both pick 1 (ties to the lower id), 3 and 4 each other.
        assert_eq!(neighbours(0), [1]);
        assert_eq!(neighbours(1), [0, 2]);
        assert_eq!(neighbours(2), [1]);
        assert_eq!(neighbours(3), [4]);
        assert_eq!(neighbours(4), [3]);
        for (i, edges) in graph.iter().enumerate() {
            for &(j, w) in edges {
                assert!(graph[j].contains(&(i, w)), "{i}-{j} is one-sided");
                assert_eq!(w, similarity[i * n + j]);
            }
        }
        // Dissimilar points are still linked, with a small weight.
        let graph = neighbour_graph(&[1.0, -1.0, -1.0, 1.0], 2, 1);
        assert_eq!(graph, [vec![(1, 1e-3)], vec![(0, 1e-3)]]);
    }

    #[test]
    fn silhouette_is_the_same_however_the_work_is_split() {
        let n = 3000;
        let at: Vec<f32> = (0..n)
            .map(|i| ((i * 7919) % 1000) as f32 / 1000.0)
            .collect();
        let distance: Vec<f32> = (0..n * n)
            .map(|ij| (at[ij / n] - at[ij % n]).abs())
            .collect();
        let labels: Vec<usize> = at.iter().map(|&x| (x * 4.0) as usize).collect();
        let first = silhouette(&distance, n, &labels);
        for threads in [1, 2, 3, 8] {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            let again = pool.install(|| silhouette(&distance, n, &labels));
            assert_eq!(again.to_bits(), first.to_bits(), "{threads} threads");
        }
    }

    #[test]
    fn silhouette_of_well_separated_groups_is_near_one() {
        let at = [0.0f32, 0.1, 0.2, 10.0, 10.1, 10.2];
        let n = at.len();
        let distance: Vec<f32> = (0..n * n)
            .map(|ij| (at[ij / n] - at[ij % n]).abs())
            .collect();
        let good = silhouette(&distance, n, &[0, 0, 0, 1, 1, 1]);
        assert!(good > 0.97, "{good}");
        let mixed = silhouette(&distance, n, &[0, 1, 0, 1, 0, 1]);
        assert!(mixed < 0.0, "{mixed}");
        // One group, or only singletons, have none.
        assert_eq!(silhouette(&distance, n, &[0; 6]), 0.0);
        assert_eq!(silhouette(&distance, n, &[0, 1, 2, 3, 4, 5]), 0.0);
    }
}
