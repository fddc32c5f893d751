//! The fusion stage: two ranked lists of Q&A pairs, one from BM25 and one from the embeddings,
//! become one, per pair (never per unit: keys of different grain would silently not meet).
//!
//! Both classic methods are here: reciprocal rank fusion and a convex combination of min-max
//! normalised scores. Either can weigh the lexical list by how informative BM25 is for this
//! query ([`lexical_weight`]): for an English question over German answers BM25 sees little of
//! the query, and a fixed fusion would let its noise drag the dense list down.

use serde::{Deserialize, Serialize};

/// How two ranked lists become one.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "method")]
pub enum Fusion {
    /// `Σ w / (k + rank)`; k = 60 in the original paper.
    Rrf { k: f32, adaptive: bool },
    /// `alpha · dense + (1 - alpha) · w · bm25`, each min-max normalised over the candidates.
    Convex { alpha: f32, adaptive: bool },
}

impl Fusion {
    pub const DEFAULT_RRF_K: f32 = 60.0;
    pub const DEFAULT_ALPHA: f32 = 0.6;

    pub fn is_adaptive(&self) -> bool {
        match *self {
            Fusion::Rrf { adaptive, .. } | Fusion::Convex { adaptive, .. } => adaptive,
        }
    }
}

impl std::fmt::Display for Fusion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let adaptive = if self.is_adaptive() { "adaptive " } else { "" };
        match self {
            Fusion::Rrf { k, .. } => write!(f, "{adaptive}rrf(k={k})"),
            Fusion::Convex { alpha, .. } => write!(f, "{adaptive}convex(alpha={alpha})"),
        }
    }
}

/// A pair's place in one arm's list.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ArmRank {
    /// 1-based.
    pub rank: usize,
    pub score: f32,
}

/// A pair after fusion, with where each arm had put it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Fused {
    pub doc: usize,
    pub score: f32,
    pub lexical: Option<ArmRank>,
    pub dense: Option<ArmRank>,
}

/// Weight of the lexical arm for a query whose terms the corpus covers to `coverage`
/// (see [`crate::retrieve::lexical::LexicalResult::coverage`]).
///
/// Linear: a query whose every term occurs in the corpus keeps full weight, one the corpus
/// never heard of gets none, and a mixed-language query sits in between.
pub fn lexical_weight(coverage: f32) -> f32 {
    coverage.clamp(0.0, 1.0)
}

/// The two retrievers fusion combines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arm {
    Lexical,
    Dense,
}

/// One arm's list as fused hits, unchanged: what a single-retriever mode returns.
pub fn single_arm(list: &[(usize, f32)], arm: Arm) -> Vec<Fused> {
    list.iter()
        .enumerate()
        .map(|(i, &(doc, score))| {
            let rank = Some(ArmRank { rank: i + 1, score });
            Fused {
                doc,
                score,
                lexical: rank.filter(|_| arm == Arm::Lexical),
                dense: rank.filter(|_| arm == Arm::Dense),
            }
        })
        .collect()
}

/// Fuses ranked `(doc, score)` lists, each best first, into one list best first.
pub fn fuse(
    method: Fusion,
    lexical: &[(usize, f32)],
    dense: &[(usize, f32)],
    coverage: f32,
) -> Vec<Fused> {
    let weight = if method.is_adaptive() {
        lexical_weight(coverage)
    } else {
        1.0
    };
    let mut fused: Vec<Fused> = Vec::with_capacity(lexical.len() + dense.len());
    let mut slot_of = std::collections::HashMap::with_capacity(lexical.len() + dense.len());
    for (list, arm) in [(lexical, Arm::Lexical), (dense, Arm::Dense)] {
        for (i, &(doc, score)) in list.iter().enumerate() {
            let slot = *slot_of.entry(doc).or_insert_with(|| {
                fused.push(Fused {
                    doc,
                    score: 0.0,
                    lexical: None,
                    dense: None,
                });
                fused.len() - 1
            });
            let rank = Some(ArmRank { rank: i + 1, score });
            match arm {
                Arm::Lexical => fused[slot].lexical = rank,
                Arm::Dense => fused[slot].dense = rank,
            }
        }
    }
    match method {
        Fusion::Rrf { k, .. } => {
            let rrf = |arm: Option<ArmRank>| arm.map_or(0.0, |a| 1.0 / (k + a.rank as f32));
            for hit in &mut fused {
                hit.score = weight * rrf(hit.lexical) + rrf(hit.dense);
            }
        }
        Fusion::Convex { alpha, .. } => {
            let lexical_norm = MinMax::of(lexical);
            let dense_norm = MinMax::of(dense);
            let combine = |l: f32, d: f32| alpha * d + (1.0 - alpha) * weight * l;
            let mut deep = vec![false; fused.len()];
            for (hit, deep) in fused.iter_mut().zip(&mut deep) {
                let l = hit.lexical.map_or(0.0, |a| lexical_norm.apply(a.score));
                let d = hit.dense.map_or(0.0, |a| dense_norm.apply(a.score));
                *deep = !(in_head(hit.lexical) || in_head(hit.dense));
                hit.score = if *deep {
                    combine(l, d)
                } else {
                    // Below the normalisation depth an arm counts as if it had not found the
                    // pair, as it would not have in a shallower list.
                    combine(l.max(0.0), d.max(0.0))
                };
            }
            // Pairs that neither arm has in its head follow the head, in their own order.
            let (mut head_floor, mut deep_top) = (f32::INFINITY, f32::NEG_INFINITY);
            for (hit, &deep) in fused.iter().zip(&deep) {
                if deep {
                    deep_top = deep_top.max(hit.score);
                } else {
                    head_floor = head_floor.min(hit.score);
                }
            }
            if head_floor.is_finite() && deep_top.is_finite() {
                let shift = (deep_top - head_floor).max(0.0) + DEEP_STEP;
                for (hit, _) in fused.iter_mut().zip(&deep).filter(|(_, &deep)| deep) {
                    hit.score -= shift;
                }
            }
        }
    }
    fused.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.doc.cmp(&b.doc)));
    fused
}

/// How far the best pair beyond both arms' normalisation depth scores under the head's last.
const DEEP_STEP: f32 = 1e-3;

/// Whether an arm ranked a pair within its [`NORMALISATION_DEPTH`].
fn in_head(rank: Option<ArmRank>) -> bool {
    rank.is_some_and(|r| r.rank <= NORMALISATION_DEPTH)
}

/// How many of an arm's best candidates set its min-max normalisation; a query fetches at
/// least this many per arm (`search::SearchOptions::MIN_DEPTH`).
///
/// Normalising over the whole list made a pair's fused score depend on how many answers were
/// asked for: `ask -k 5` fetches 50 candidates an arm and `eval` (which needs 100 answers for
/// R@100) 500, whose last scores lie far lower and squeeze the spread at the top. With a fixed
/// depth, every top-k ranks its head the same, and `eval` measures what `ask` returns.
pub const NORMALISATION_DEPTH: usize = 50;

/// Per-query min-max normalisation: an arm's best score maps to 1 and its score at
/// [`NORMALISATION_DEPTH`] (or its last, if shorter) to 0; deeper candidates fall below 0 in
/// their order. A list whose normalising scores are all equal maps to 1.
struct MinMax {
    min: f32,
    span: f32,
}

impl MinMax {
    /// `list` best first.
    fn of(list: &[(usize, f32)]) -> MinMax {
        let head = &list[..list.len().min(NORMALISATION_DEPTH)];
        let (min, max) = head
            .iter()
            .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &(_, s)| {
                (lo.min(s), hi.max(s))
            });
        MinMax {
            min,
            span: max - min,
        }
    }

    fn apply(&self, score: f32) -> f32 {
        if self.span > f32::EPSILON {
            (score - self.min) / self.span
        } else {
            1.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const RRF: Fusion = Fusion::Rrf {
        k: 60.0,
        adaptive: false,
    };

    fn docs(fused: &[Fused]) -> Vec<usize> {
        fused.iter().map(|f| f.doc).collect()
    }

    #[test]
    fn rrf_adds_reciprocal_ranks() {
        let fused = fuse(RRF, &[(1, 9.0), (2, 5.0)], &[(2, 0.9), (3, 0.8)], 1.0);
        assert_eq!(docs(&fused), [2, 1, 3]);
        assert!((fused[0].score - (1.0 / 62.0 + 1.0 / 61.0)).abs() < 1e-6);
        assert_eq!(
            fused[0].lexical,
            Some(ArmRank {
                rank: 2,
                score: 5.0
            })
        );
    }

    #[test]
    fn adaptive_fusion_ignores_a_blind_lexical_arm() {
        let lexical = [(7, 3.0), (8, 2.0)];
        let dense = [(1, 0.9), (7, 0.5), (8, 0.4)];
        for method in [
            Fusion::Rrf {
                k: 60.0,
                adaptive: true,
            },
            Fusion::Convex {
                alpha: 0.5,
                adaptive: true,
            },
        ] {
            assert_eq!(
                docs(&fuse(method, &lexical, &dense, 0.0)),
                [1, 7, 8],
                "{method}"
            );
            assert_eq!(fuse(method, &lexical, &dense, 1.0)[0].doc, 7, "{method}");
        }
    }

    #[test]
    fn convex_normalises_each_arm() {
        let method = Fusion::Convex {
            alpha: 0.5,
            adaptive: false,
        };
        let fused = fuse(method, &[(1, 20.0), (2, 10.0)], &[(2, 0.9), (1, 0.7)], 1.0);
        assert!((fused[0].score - 0.5).abs() < 1e-6 && (fused[1].score - 0.5).abs() < 1e-6);
    }

    /// A deeper list (more answers asked for) leaves the order of the head as it was.
    #[test]
    fn convex_fusion_of_the_head_does_not_depend_on_the_depth() {
        let method = Fusion::Convex {
            alpha: 0.6,
            adaptive: true,
        };
        let arm = |offset: usize, step: f32| -> Vec<(usize, f32)> {
            (0..500)
                .map(|i| ((i * 7 + offset) % 500, 1.0 - step * (i as f32).sqrt()))
                .collect()
        };
        let (lexical, dense) = (arm(3, 0.08), arm(0, 0.01));
        let shallow = fuse(method, &lexical[..50], &dense[..50], 0.8);
        let deep = fuse(method, &lexical, &dense, 0.8);
        assert_eq!(docs(&shallow)[..20], docs(&deep)[..20]);
        for (a, b) in shallow.iter().zip(&deep).take(20) {
            assert!((a.score - b.score).abs() < 1e-6, "{a:?} {b:?}");
        }
    }

    proptest! {
        /// Fusion keeps every candidate exactly once, and with one arm empty it is that arm.
        #[test]
        fn fusion_is_a_permutation_of_the_union(
            lexical in proptest::collection::vec(0usize..50, 0..20),
            dense in proptest::collection::vec(0usize..50, 0..20),
            alpha in 0.05f32..1.0,
            coverage in 0.0f32..1.0,
        ) {
            let rank = |ids: &[usize]| -> Vec<(usize, f32)> {
                let mut seen = std::collections::BTreeSet::new();
                ids.iter().filter(|d| seen.insert(**d)).enumerate()
                    .map(|(i, &d)| (d, 100.0 - i as f32)).collect()
            };
            let (l, d) = (rank(&lexical), rank(&dense));
            for method in [RRF, Fusion::Convex { alpha, adaptive: true }] {
                let fused = fuse(method, &l, &d, coverage);
                let mut got = docs(&fused);
                got.sort();
                let mut want: Vec<usize> = l.iter().chain(&d).map(|x| x.0).collect();
                want.sort();
                want.dedup();
                prop_assert_eq!(got, want);
                if l.is_empty() {
                    prop_assert_eq!(docs(&fused), d.iter().map(|x| x.0).collect::<Vec<_>>());
                }
            }
        }
    }
}
