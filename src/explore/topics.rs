//! The corpus grouped into topics: pairs clustered by their similarities ([`super::cluster`]),
//! each topic described by its distinctive words, every pair placed on a map by the first two
//! principal components of the pair vectors ([`super::projection`]), and the near-duplicates
//! found on the way.

use rayon::prelude::*;
use serde::Serialize;

use super::cluster::{louvain, modularity, neighbour_graph, silhouette};
use super::projection::{self, Matrix};
use crate::embed::dot;
use crate::similarity::{add_scaled, spread_sample, PairSpace, SEMANTIC_WEIGHT};

/// Two pairs at least this similar ([`PairSpace::similarity`]) say nearly the same thing: a
/// question asked twice, or one answer filed under two wordings. On the bundled corpus the most
/// similar two pairs (two GAN questions) reach 0.46.
pub const NEAR_DUPLICATE_SIMILARITY: f32 = 0.85;

/// Pairs clustered directly at most; beyond, a sample drawn with a fixed seed is clustered and
/// the rest join the topic their nearest sampled neighbours are in (the neighbour graph of the
/// sample is built from all its similarities, m² of them).
pub const MAX_CLUSTERED: usize = 2000;

/// The corpus grouped into topics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Topics {
    /// Largest first. Every pair is a member of exactly one.
    pub topics: Vec<Topic>,
    /// Pairs that say nearly the same thing, most similar first; they keep their topic too.
    pub near_duplicates: Vec<NearDuplicate>,
    /// Mean silhouette of the grouping, in [-1, 1]: how much nearer pairs are to their own
    /// topic than to the next one. Around 0.1 for a corpus of one domain like the bundled one.
    pub silhouette: f32,
    /// Modularity of the grouping on the neighbour graph, in [-0.5, 1]: the share of neighbour
    /// links inside topics beyond what chance would give.
    pub modularity: f32,
    /// One per pair, in corpus order: where it lies on the map.
    pub points: Vec<MapPoint>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Topic {
    /// The key words joined by ", ".
    pub label: String,
    /// Two to four words that set the topic apart from the rest of the corpus.
    pub terms: Vec<String>,
    /// Member ids, in corpus order.
    pub members: Vec<String>,
    /// Member ordinals, in corpus order.
    pub docs: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NearDuplicate {
    pub a: String,
    pub b: String,
    /// As [`PairSpace::similarity`].
    pub similarity: f32,
}

/// A pair on the topic map: its first two principal components.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MapPoint {
    pub doc: usize,
    pub id: String,
    /// A few words naming the pair on the map, as [`PairSpace::title`].
    pub title: String,
    /// Index into [`Topics::topics`].
    pub topic: usize,
    pub x: f32,
    pub y: f32,
}

/// Groups the pairs of `space` into topics; see [`Topics`].
///
/// Each pair is linked to its ⌈ln n⌉ most similar pairs — about the sparsest neighbour
/// graph that still holds together — and the graph is split where it has the most weight
/// inside groups beyond what chance would put there (modularity, by the Louvain method).
/// So the data decides how many topics there are, and a topic is a group whose members are
/// one another's neighbours, not a slice of a ranking.
///
/// Average-linkage clustering cut at the best silhouette was tried first: on the bundled
/// corpus every cut from 2 to 12 topics has a silhouette of 0.05–0.10, so the choice among
/// them was noise, and small changes to the vectors flipped it between 2 and 7 topics. The
/// modularity optimum kept the four GAN pairs together under every weighting tried.
pub fn topics(space: &PairSpace) -> Topics {
    let n = space.len();
    let (assignment, silhouette, modularity) = match n {
        0 => (Vec::new(), 0.0, 0.0),
        1 | 2 => (vec![0; n], 0.0, 0.0),
        _ => cluster(space),
    };
    let described = describe(space, &assignment);
    let mut renumber = vec![0; assignment.iter().max().map_or(0, |&l| l + 1)];
    for (new, (old, _)) in described.iter().enumerate() {
        renumber[*old] = new;
    }
    let projection = project(space);
    let points = (0..n)
        .map(|doc| MapPoint {
            doc,
            id: space.id(doc).to_string(),
            title: space.title(doc).to_string(),
            topic: renumber[assignment[doc]],
            x: projection[doc].0,
            y: projection[doc].1,
        })
        .collect();
    Topics {
        topics: described.into_iter().map(|(_, t)| t).collect(),
        near_duplicates: near_duplicates(space),
        silhouette,
        modularity,
        points,
    }
}

/// A cluster number per pair, 0.., with the silhouette and modularity of the clustering.
fn cluster(space: &PairSpace) -> (Vec<usize>, f32, f32) {
    let n = space.len();
    let sample = spread_sample(n, MAX_CLUSTERED);
    let m = sample.len();
    let similarity: Vec<f32> = sample
        .par_iter()
        .flat_map_iter(|&a| space.similarity_row(a, &sample))
        .collect();
    let neighbours = ((m as f32).ln().ceil() as usize).clamp(2, m - 1);
    let graph = neighbour_graph(&similarity, m, neighbours);
    let labels = louvain(&graph);
    let modularity = modularity(&graph, &labels);
    let distance: Vec<f32> = similarity.iter().map(|s| (1.0 - s).max(0.0)).collect();
    let silhouette = silhouette(&distance, m, &labels);
    if m == n {
        return (labels, silhouette, modularity);
    }
    // The pairs outside the sample join the topic of their nearest sampled neighbours,
    // each neighbour's vote weighted by its similarity.
    let k = labels.iter().max().map_or(0, |&l| l + 1);
    let mut out = vec![usize::MAX; n];
    for (&doc, &label) in sample.iter().zip(&labels) {
        out[doc] = label;
    }
    out.par_iter_mut().enumerate().for_each(|(doc, label)| {
        if *label != usize::MAX {
            return;
        }
        let mut near: Vec<(usize, f32)> = space
            .similarity_row(doc, &sample)
            .into_iter()
            .enumerate()
            .collect();
        near.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut votes = vec![0.0f32; k];
        for &(i, s) in near.iter().take(neighbours) {
            votes[labels[i]] += s.max(1e-3);
        }
        *label = (0..k)
            .max_by(|&a, &b| votes[a].total_cmp(&votes[b]).then(b.cmp(&a)))
            .unwrap_or(0);
    });
    (out, silhouette, modularity)
}

/// Topics with their labels, each paired with its cluster number, largest first.
fn describe(space: &PairSpace, assignment: &[usize]) -> Vec<(usize, Topic)> {
    let k = assignment.iter().max().map_or(0, |&l| l + 1);
    let mut docs = vec![Vec::new(); k];
    for (doc, &label) in assignment.iter().enumerate() {
        docs[label].push(doc);
    }
    let labels = space.terms().class_labels(&docs);
    let mut topics: Vec<(usize, Topic)> = docs
        .into_iter()
        .zip(labels)
        .enumerate()
        .filter(|(_, (members, _))| !members.is_empty())
        .map(|(cluster, (members, terms))| {
            let terms = if terms.is_empty() {
                vec![space.title(members[0]).to_string()]
            } else {
                terms
            };
            let topic = Topic {
                label: terms.join(", "),
                terms,
                members: members.iter().map(|&d| space.id(d).to_string()).collect(),
                docs: members,
            };
            (cluster, topic)
        })
        .collect();
    topics.sort_by(|a, b| {
        (b.1.docs.len())
            .cmp(&a.1.docs.len())
            .then(a.1.docs[0].cmp(&b.1.docs[0]))
    });
    topics
}

/// All pairs of pairs at least [`NEAR_DUPLICATE_SIMILARITY`] alike: n²/2 similarities, a
/// few seconds for 10,000 pairs.
fn near_duplicates(space: &PairSpace) -> Vec<NearDuplicate> {
    let n = space.len();
    let mut found: Vec<NearDuplicate> = (0..n)
        .into_par_iter()
        .flat_map_iter(|a| {
            (a + 1..n).filter_map(move |b| {
                // The lexical part is at most 1: a dense part below this cannot make it.
                let dense_needed =
                    (NEAR_DUPLICATE_SIMILARITY - (1.0 - SEMANTIC_WEIGHT)) / SEMANTIC_WEIGHT;
                if space.semantic(a, b) < dense_needed {
                    return None;
                }
                let similarity = space.similarity(a, b);
                (similarity >= NEAR_DUPLICATE_SIMILARITY).then(|| NearDuplicate {
                    a: space.id(a).to_string(),
                    b: space.id(b).to_string(),
                    similarity,
                })
            })
        })
        .collect();
    found.sort_by(|x, y| y.similarity.total_cmp(&x.similarity));
    found
}

/// The first two principal components of the pair vectors (dense and lexical parts
/// concatenated, weighted as in [`PairSpace::similarity`]): the same corpus gives the same map.
fn project(space: &PairSpace) -> Vec<(f32, f32)> {
    if space.is_empty() {
        return Vec::new();
    }
    let vectors = PairVectors {
        space,
        dense_weight: SEMANTIC_WEIGHT.sqrt(),
        lexical_weight: (1.0 - SEMANTIC_WEIGHT).sqrt(),
    };
    let components = projection::components(&vectors, 2);
    let xs = projection::scores(&vectors, &components[0]);
    let ys = projection::scores(&vectors, &components[1]);
    xs.into_iter().zip(ys).collect()
}

/// The pair vectors `x_i = [a·dense_i, b·lexical_i]` as a [`Matrix`], without building them:
/// with a² + b² = 1 in the proportion of [`SEMANTIC_WEIGHT`], `x_i · x_j` is the similarity of
/// the two pairs. A row or direction is `[dense part, one weight per term]`.
struct PairVectors<'a> {
    space: &'a PairSpace,
    dense_weight: f32,
    lexical_weight: f32,
}

impl Matrix for PairVectors<'_> {
    fn rows(&self) -> usize {
        self.space.len()
    }

    fn columns(&self) -> usize {
        self.space.dim() + self.space.terms().len()
    }

    fn row_dot(&self, i: usize, v: &[f32]) -> f32 {
        let (vd, vl) = v.split_at(self.space.dim());
        let lexical: f32 = self
            .space
            .terms()
            .lexical(i)
            .iter()
            .map(|&(t, w)| w * vl[t as usize])
            .sum();
        self.dense_weight * dot(self.space.vector(i), vd) + self.lexical_weight * lexical
    }

    fn add_row(&self, i: usize, scale: f32, out: &mut [f32]) {
        let dim = self.space.dim();
        add_scaled(
            &mut out[..dim],
            self.space.vector(i),
            scale * self.dense_weight,
        );
        for &(t, w) in self.space.terms().lexical(i) {
            out[dim + t as usize] += scale * w * self.lexical_weight;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::similarity::testing::{pairs, space, vectors};

    fn topic_of(topics: &Topics, doc: usize) -> usize {
        topics.points[doc].topic
    }

    #[test]
    fn the_three_topics_of_the_fixture_are_found() {
        let space = space();
        let topics = topics(&space);
        assert_eq!(topics.topics.len(), 3, "{topics:#?}");
        for doc in (0..6).step_by(2) {
            assert_eq!(topic_of(&topics, doc), topic_of(&topics, doc + 1));
        }
        assert_ne!(topic_of(&topics, 0), topic_of(&topics, 2));
        assert_ne!(topic_of(&topics, 2), topic_of(&topics, 4));
        assert_ne!(topic_of(&topics, 0), topic_of(&topics, 4));
        let gan = &topics.topics[topic_of(&topics, 0)];
        assert_eq!(gan.members, ["gan-basics", "gan-training"]);
        assert_eq!(gan.docs, [0, 1]);
        assert!(gan.terms.iter().any(|t| t == "Generator"), "{gan:?}");
        assert_eq!(gan.label, gan.terms.join(", "));
        assert!(
            topics.silhouette > 0.0 && topics.modularity > 0.3,
            "{topics:#?}"
        );
        assert!(topics.near_duplicates.is_empty());
    }

    #[test]
    fn every_pair_is_in_one_topic_and_on_the_map() {
        let space = space();
        let topics = topics(&space);
        let mut seen = vec![0; space.len()];
        for (i, topic) in topics.topics.iter().enumerate() {
            for &doc in &topic.docs {
                assert_eq!(topics.points[doc].topic, i);
                seen[doc] += 1;
            }
        }
        assert_eq!(seen, [1; 6]);
        for (doc, point) in topics.points.iter().enumerate() {
            assert_eq!((point.doc, point.id.as_str()), (doc, space.id(doc)));
            assert_eq!(point.title, space.title(doc));
        }
        // The map spreads the topics apart along its first axis or its second.
        let apart = |a: usize, b: usize| {
            let (p, q) = (&topics.points[a], &topics.points[b]);
            (p.x - q.x).hypot(p.y - q.y)
        };
        assert!(apart(0, 2) > apart(0, 1) && apart(2, 4) > apart(2, 3));
    }

    #[test]
    fn topics_are_deterministic() {
        let space = space();
        assert_eq!(topics(&space), topics(&space));
    }

    #[test]
    fn a_pair_filed_twice_is_a_near_duplicate() {
        let mut pairs = pairs();
        let mut vectors = vectors();
        let mut again = pairs[2].clone();
        again.id = "quantization-again".into();
        pairs.push(again);
        vectors.push(vectors[2].clone());
        let space = PairSpace::from_pairs(&pairs, vectors).unwrap();
        let topics = topics(&space);
        // Most similar first.
        let duplicate = &topics.near_duplicates[0];
        assert_eq!(
            (duplicate.a.as_str(), duplicate.b.as_str()),
            ("quantization", "quantization-again")
        );
        assert!((duplicate.similarity - 1.0).abs() < 1e-5);
        assert!(topics
            .near_duplicates
            .windows(2)
            .all(|w| w[0].similarity >= w[1].similarity));
        assert!(topics
            .near_duplicates
            .iter()
            .all(|d| d.similarity >= NEAR_DUPLICATE_SIMILARITY));
        assert_eq!(topic_of(&topics, 2), topic_of(&topics, 6));
    }

    #[test]
    fn tiny_corpora_have_one_topic_or_none() {
        let empty = topics(&PairSpace::from_pairs(&[], Vec::new()).unwrap());
        assert!(empty.topics.is_empty() && empty.points.is_empty());
        let two = PairSpace::from_pairs(&pairs()[..2], vectors()[..2].to_vec()).unwrap();
        let two = topics(&two);
        assert_eq!(two.topics.len(), 1);
        assert_eq!(two.topics[0].docs, [0, 1]);
        assert_eq!((two.silhouette, two.modularity), (0.0, 0.0));
    }
}
