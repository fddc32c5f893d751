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
/// singleton clusters count 0, as usual.
pub(super) fn silhouette(distance: &[f32], n: usize, labels: &[usize]) -> f32 {
    let k = labels.iter().max().map_or(0, |&l| l + 1);
    if k < 2 {
        return 0.0;
    }
    let mut counts = vec![0usize; k];
    labels.iter().for_each(|&l| counts[l] += 1);
    let total: f32 = (0..n)
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
        .sum();
    total / n as f32
}
