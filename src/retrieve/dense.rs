//! The vector stage: every question, every answer and every answer sentence is a *unit* with
//! its own embedding, kept in an HNSW graph (hnsw_rs) that is saved with the index.
//!
//! Units finer than the answer matter twice: a question that asks about a detail buried in a
//! long answer matches the sentence better than the whole answer, and the sentence that matched
//! is what a hit shows as its excerpt.
//!
//! The arm ([`DenseRetriever`]) folds the nearest units into one score per pair, their best.

use std::path::Path;

use hnsw_rs::api::AnnT;
use hnsw_rs::hnswio::HnswIo;
use hnsw_rs::prelude::{Distance, Hnsw};

use super::{best_first, filter, PairHit, RetrievalQuery, Retrieved, Retriever};
use crate::corpus::Unit;
use crate::corpus::UnitKind;
use crate::embed::cosine;
use crate::error::{Error, IoContext, Result};

/// Cosine distance for unit-length vectors, `1 - a·b`, clamped at 0 because rounding can push
/// the dot product of a vector with itself past 1 (hnsw_rs's own `DistDot` asserts on that).
#[derive(Debug, Default, Clone, Copy)]
pub struct UnitCosine;

impl Distance<f32> for UnitCosine {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        (1.0 - cosine(a, b)).max(0.0)
    }
}

/// A unit found for a query vector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UnitHit {
    pub unit: usize,
    pub similarity: f32,
}

/// Graph parameters: 36 pairs or 10,000, these keep recall exact for the sizes antwort targets
/// at a build cost that is small beside embedding.
const MAX_CONNECTIONS: usize = 24;
const EF_CONSTRUCTION: usize = 200;
/// Smallest candidate list a search keeps (hnsw_rs's `ef`); see [`VectorIndex::search`].
const MIN_EF_SEARCH: usize = 128;
const MAX_LAYERS: usize = 16;
const GRAPH_BASENAME: &str = "graph";
const UNITS_FILE: &str = "units.json";

/// Runs `f`, turning a panic into `Err` without the panic message and backtrace that the
/// default hook would print: the caller reports the failure in its own words.
///
/// The hook is replaced once, process-wide, by one that stays silent only for the thread
/// inside this call and defers to the previous hook everywhere else, so concurrent callers
/// and unrelated panics are unaffected.
fn catch_unwind_quietly<T>(f: impl FnOnce() -> T) -> std::thread::Result<T> {
    thread_local!(static QUIET: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !QUIET.with(std::cell::Cell::get) {
                previous(info);
            }
        }));
    });
    QUIET.with(|quiet| quiet.set(true));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    QUIET.with(|quiet| quiet.set(false));
    result
}

/// Units, their embeddings, and the HNSW graph over them.
pub struct VectorIndex {
    units: Vec<Unit>,
    vectors: Vec<Vec<f32>>,
    graph: Hnsw<'static, f32, UnitCosine>,
}

impl VectorIndex {
    /// Builds the graph over `vectors`, one per unit, in parallel.
    pub fn build(units: Vec<Unit>, vectors: Vec<Vec<f32>>) -> Result<VectorIndex> {
        if units.len() != vectors.len() {
            return Err(Error::Internal(format!(
                "{} units but {} vectors",
                units.len(),
                vectors.len()
            )));
        }
        let mut graph = Hnsw::new(
            MAX_CONNECTIONS,
            vectors.len().max(1),
            MAX_LAYERS,
            EF_CONSTRUCTION,
            UnitCosine,
        );
        let items: Vec<(&[f32], usize)> = vectors
            .iter()
            .enumerate()
            .map(|(id, v)| (v.as_slice(), id))
            .collect();
        graph.parallel_insert_slice(&items);
        graph.set_searching_mode(true);
        Ok(VectorIndex {
            units,
            vectors,
            graph,
        })
    }

    /// Writes units and graph (which holds the vectors) into `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let units = serde_json::to_vec(&self.units).expect("units serialize");
        std::fs::write(dir.join(UNITS_FILE), units)
            .context(|| format!("cannot write {}", dir.join(UNITS_FILE).display()))?;
        let written = self
            .graph
            .file_dump(dir, GRAPH_BASENAME)
            .map_err(|e| Error::index_caused(dir, "cannot write the HNSW graph", e))?;
        if written != GRAPH_BASENAME {
            return Err(Error::index(
                dir,
                "HNSW graph written under an unexpected name",
            ));
        }
        Ok(())
    }

    /// Reads what [`VectorIndex::save`] wrote.
    pub fn load(dir: &Path) -> Result<VectorIndex> {
        let damaged =
            |what: String| Error::index(dir, format!("{what}; rebuild it with `antwort index`"));
        let caused = |what: &str, e: Box<dyn std::error::Error + Send + Sync>| {
            Error::index_caused(dir, format!("{what}; rebuild it with `antwort index`"), e)
        };
        let units: Vec<Unit> = std::fs::read(dir.join(UNITS_FILE))
            .map_err(|e| caused(&format!("cannot read {UNITS_FILE}"), e.into()))
            .and_then(|b| {
                serde_json::from_slice(&b)
                    .map_err(|e| caused(&format!("{UNITS_FILE} is damaged"), e.into()))
            })?;
        // hnsw_rs ties a loaded graph to the lifetime of its loader. Without mmap the loader
        // holds only paths and options (the graph owns its vectors), so leaking it once per
        // load costs a few hundred bytes and gives a graph that can live in a plain struct.
        let loader: &'static mut HnswIo = Box::leak(Box::new(HnswIo::new(dir, GRAPH_BASENAME)));
        // hnsw_rs asserts on damaged files instead of returning an error.
        let graph = catch_unwind_quietly(move || { loader }.load_hnsw::<f32, UnitCosine>())
            .map_err(|_| damaged("the HNSW graph is damaged".into()))?
            .map_err(|e| caused("cannot read the HNSW graph", e.into()))?;
        let mut vectors = vec![Vec::new(); units.len()];
        for point in graph.get_point_indexation() {
            let slot = vectors
                .get_mut(point.get_origin_id())
                .ok_or_else(|| damaged("the HNSW graph does not match units.json".into()))?;
            *slot = point.get_v().to_vec();
        }
        if vectors.iter().any(Vec::is_empty) {
            return Err(damaged("the HNSW graph does not match units.json".into()));
        }
        Ok(VectorIndex {
            units,
            vectors,
            graph,
        })
    }

    pub fn units(&self) -> &[Unit] {
        &self.units
    }

    pub fn vector(&self, unit: usize) -> &[f32] {
        &self.vectors[unit]
    }

    /// Ids of the units of one pair. Units are stored pair by pair ([`units_of`]), so they are
    /// one contiguous run, found by binary search.
    pub fn units_of_doc(&self, doc: usize) -> std::ops::Range<usize> {
        let start = self.units.partition_point(|u| u.doc < doc);
        let end = self.units.partition_point(|u| u.doc <= doc);
        start..end
    }

    pub fn len(&self) -> usize {
        self.units.len()
    }

    pub fn is_empty(&self) -> bool {
        self.units.is_empty()
    }

    /// The `k` units nearest to `query` through the graph, best first.
    ///
    /// The search list holds at least [`MIN_EF_SEARCH`] candidates: with 64, one of 92 dev
    /// queries lost its 8th nearest unit of 261 to the graph at k = 10.
    pub fn search(&self, query: &[f32], k: usize) -> Vec<UnitHit> {
        let k = k.min(self.units.len());
        if k == 0 {
            return Vec::new();
        }
        let ef = (2 * k).max(MIN_EF_SEARCH);
        self.graph
            .search(query, k, ef)
            .into_iter()
            .map(|n| UnitHit {
                unit: n.d_id,
                similarity: 1.0 - n.distance,
            })
            .collect()
    }

    /// The `k` units nearest to `query` through the graph among those `keep` accepts, best
    /// first; fewer than `k` when the filtered search runs out of candidates (see
    /// [`super::filter::nearest_allowed`], which falls back to an exact search then).
    pub fn search_where(
        &self,
        query: &[f32],
        k: usize,
        keep: &dyn Fn(usize) -> bool,
    ) -> Vec<UnitHit> {
        let k = k.min(self.units.len());
        if k == 0 {
            return Vec::new();
        }
        let ef = (2 * k).max(MIN_EF_SEARCH);
        let filter = |id: &usize| keep(*id);
        self.graph
            .search_filter(query, k, ef, Some(&filter))
            .into_iter()
            .map(|n| UnitHit {
                unit: n.d_id,
                similarity: 1.0 - n.distance,
            })
            .collect()
    }

    /// The `k` units nearest to `query` by brute force: the reference the graph is tested
    /// against.
    pub fn exact_search(&self, query: &[f32], k: usize) -> Vec<UnitHit> {
        let k = k.min(self.units.len());
        let mut hits: Vec<UnitHit> = self
            .vectors
            .iter()
            .enumerate()
            .map(|(unit, v)| UnitHit {
                unit,
                similarity: cosine(query, v),
            })
            .collect();
        hits.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
        hits.truncate(k);
        hits
    }
}

/// How the dense arm finds a query's nearest units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NeighbourSearch {
    /// Through the HNSW graph: sublinear in the corpus.
    #[default]
    Graph,
    /// By brute force over every unit: exact, linear in the corpus.
    Exact,
}

/// The dense arm over a [`VectorIndex`]: the nearest units of the query's embedding, folded
/// into one score per pair (its best unit's similarity).
#[derive(Clone, Copy)]
pub struct DenseRetriever<'i> {
    pub index: &'i VectorIndex,
    pub search: NeighbourSearch,
}

impl Retriever for DenseRetriever<'_> {
    fn name(&self) -> &'static str {
        "dense"
    }

    /// Empty without the query's embedding.
    fn retrieve(&self, query: &RetrievalQuery, depth: usize) -> Result<Retrieved> {
        let Some(encoding) = query.encoding else {
            return Ok(Retrieved::default());
        };
        let units = &self.index.units;
        let docs = units.last().map_or(0, |u| u.doc + 1);
        // Enough units that `depth` pairs are found even when each has several near the query.
        let units_per_doc = units.len().div_ceil(docs.max(1));
        let k = depth.saturating_mul(units_per_doc);
        let unit_hits = match (query.allowed, self.search) {
            (Some(allowed), search) => filter::nearest_allowed(
                self.index,
                search,
                &encoding.vector,
                k,
                allowed,
                filter::EXACT_BELOW_UNITS,
            ),
            (None, NeighbourSearch::Graph) => self.index.search(&encoding.vector, k),
            (None, NeighbourSearch::Exact) => self.index.exact_search(&encoding.vector, k),
        };
        let mut by_doc: std::collections::HashMap<usize, PairHit> = Default::default();
        for UnitHit {
            unit: id,
            similarity,
        } in unit_hits
        {
            let unit = &units[id];
            let entry = by_doc.entry(unit.doc).or_insert(PairHit {
                doc: unit.doc,
                score: f32::NEG_INFINITY,
                best_sentence: None,
            });
            entry.score = entry.score.max(similarity);
            if unit.kind == UnitKind::Sentence
                && entry
                    .best_sentence
                    .is_none_or(|(_, best)| similarity > best)
            {
                entry.best_sentence = Some((id, similarity));
            }
        }
        let mut hits: Vec<PairHit> = by_doc.into_values().collect();
        hits.sort_by(|a, b| best_first(&(a.doc, a.score), &(b.doc, b.score)));
        hits.truncate(depth);
        Ok(Retrieved {
            hits,
            coverage: 1.0,
            terms: Vec::new(),
        })
    }
}
