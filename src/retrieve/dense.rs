//! The vector stage: every question, every answer and every answer sentence is a *unit* with
//! its own embedding, kept in an HNSW graph (hnsw_rs) that is saved with the index.
//!
//! Units finer than the answer matter twice: a question that asks about a detail buried in a
//! long answer matches the sentence better than the whole answer, and the sentence that matched
//! is what a hit shows as its excerpt.
//!
//! The arm ([`DenseRetriever`]) folds the nearest units into one score per pair, their best.
//!
//! Units with the same vector (the same text: a build embeds each distinct text once) share
//! one point of the graph. Real collections repeat themselves: in medquad-liveqa 31 % of the
//! units repeat another's text, one boilerplate sentence 2,243 times. HNSW's neighbour
//! selection never prunes a copy in favour of another, so a group of copies links mostly to
//! itself and traps the searches that enter it (a graph over every copy found 77 % of the exact
//! top ten there); one point per text gives the graph back its reach.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use hnsw_rs::api::AnnT;
use hnsw_rs::hnsw::Point;
use hnsw_rs::hnswio::{HnswIo, ReloadOptions};
use hnsw_rs::prelude::{Distance, Hnsw};

use super::{best_first, filter, PairHit, RetrievalQuery, Retrieved, Retriever};
use crate::corpus::{units_of_pair, Unit, UnitKind};
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
const UNITS_FILE: &str = "units.bin";
/// A unit in [`UNITS_FILE`]: pair (u32), kind (u8), span start and end (u32), and the unit
/// whose graph point holds its vector (u32), little-endian.
const UNIT_BYTES: usize = 17;

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
///
/// The embeddings live once, in the graph's points (mapped from the graph's data file once
/// loaded); `points` only indexes them by unit. A point belongs to the first unit with its
/// vector, its *holder*; `copies` lists the other units that share it.
pub struct VectorIndex {
    units: Vec<Unit>,
    holders: Vec<usize>,
    copies: HashMap<usize, Vec<usize>>,
    points: Vec<Arc<Point<'static, f32>>>,
    graph: Hnsw<'static, f32, UnitCosine>,
}

/// Each unit's holder: the first unit whose vector is bit for bit the same as its own.
///
/// Keyed by a hash of the bits rather than the bits themselves, so that finding the copies
/// costs a few bytes a unit instead of a second copy of every vector.
fn holders_of(vectors: &[Vec<f32>]) -> Vec<usize> {
    use std::hash::{Hash, Hasher};
    let same_bits = |a: &[f32], b: &[f32]| {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.to_bits() == y.to_bits())
    };
    let mut by_hash: HashMap<u64, Vec<usize>> = HashMap::with_capacity(vectors.len());
    (vectors.iter().enumerate())
        .map(|(unit, v)| {
            let mut hasher = std::hash::DefaultHasher::new();
            v.iter().for_each(|x| x.to_bits().hash(&mut hasher));
            let holders = by_hash.entry(hasher.finish()).or_default();
            match holders.iter().find(|&&h| same_bits(&vectors[h], v)) {
                Some(&holder) => holder,
                None => {
                    holders.push(unit);
                    unit
                }
            }
        })
        .collect()
}

/// The units that share a holder's point, holder by holder, in unit order.
fn copies_of(holders: &[usize]) -> HashMap<usize, Vec<usize>> {
    let mut copies: HashMap<usize, Vec<usize>> = HashMap::new();
    for (unit, &holder) in holders.iter().enumerate() {
        if holder != unit {
            copies.entry(holder).or_default().push(unit);
        }
    }
    copies
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
        let holders = holders_of(&vectors);
        let items: Vec<(&[f32], usize)> = (vectors.iter().enumerate())
            .filter(|&(unit, _)| holders[unit] == unit)
            .map(|(unit, v)| (v.as_slice(), unit))
            .collect();
        let mut graph = Hnsw::new(
            MAX_CONNECTIONS,
            items.len().max(1),
            MAX_LAYERS,
            EF_CONSTRUCTION,
            UnitCosine,
        );
        graph.parallel_insert_slice(&items);
        drop(items);
        drop(vectors);
        graph.set_searching_mode(true);
        let points = points_by_unit(&graph, &holders)
            .ok_or_else(|| Error::Internal("the HNSW graph lost a unit".into()))?;
        Ok(VectorIndex {
            units,
            copies: copies_of(&holders),
            holders,
            points,
            graph,
        })
    }

    /// Writes units and graph (which holds the vectors) into `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let mut units = Vec::with_capacity(self.units.len() * UNIT_BYTES);
        for (unit, &holder) in self.units.iter().zip(&self.holders) {
            let kind = match unit.kind {
                UnitKind::Question => 0u8,
                UnitKind::Answer => 1,
                UnitKind::Sentence => 2,
            };
            units.extend_from_slice(&(unit.doc as u32).to_le_bytes());
            units.push(kind);
            units.extend_from_slice(&(unit.span.start as u32).to_le_bytes());
            units.extend_from_slice(&(unit.span.end as u32).to_le_bytes());
            units.extend_from_slice(&(holder as u32).to_le_bytes());
        }
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
        let bytes = std::fs::read(dir.join(UNITS_FILE))
            .map_err(|e| caused(&format!("cannot read {UNITS_FILE}"), e.into()))?;
        let (units, holders) =
            parse_units(&bytes).ok_or_else(|| damaged(format!("{UNITS_FILE} is damaged")))?;
        // hnsw_rs ties a loaded graph to the lifetime of its loader, which maps the graph's
        // data file: leaking the loader once per load keeps the map for as long as the graph
        // lives, in a plain struct. The embeddings are then read from the map, and only the
        // pages a search visits are ever in memory.
        let loader: &'static mut HnswIo = Box::leak(Box::new(HnswIo::new_with_options(
            dir,
            GRAPH_BASENAME,
            ReloadOptions::new(true),
        )));
        // hnsw_rs asserts on damaged files instead of returning an error.
        let graph = catch_unwind_quietly(move || { loader }.load_hnsw::<f32, UnitCosine>())
            .map_err(|_| damaged("the HNSW graph is damaged".into()))?
            .map_err(|e| caused("cannot read the HNSW graph", e.into()))?;
        let points = points_by_unit(&graph, &holders)
            .ok_or_else(|| damaged(format!("the HNSW graph does not match {UNITS_FILE}")))?;
        Ok(VectorIndex {
            units,
            copies: copies_of(&holders),
            holders,
            points,
            graph,
        })
    }

    pub fn units(&self) -> &[Unit] {
        &self.units
    }

    pub fn vector(&self, unit: usize) -> &[f32] {
        self.points[unit].get_v()
    }

    /// Ids of the units of one pair ([`units_of_pair`]).
    pub fn units_of_doc(&self, doc: usize) -> std::ops::Range<usize> {
        units_of_pair(&self.units, doc)
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
        self.search_with_list(query, k, (2 * k).max(MIN_EF_SEARCH))
    }

    /// [`VectorIndex::search`] with a search list of `ef` candidates (at least `k`): for
    /// measuring recall against [`VectorIndex::exact_search`] at other list lengths.
    pub fn search_with_list(&self, query: &[f32], k: usize, ef: usize) -> Vec<UnitHit> {
        let k = k.min(self.units.len());
        if k == 0 {
            return Vec::new();
        }
        let ef = ef.max(k);
        let found = self.graph.search(query, k, ef);
        self.with_copies(nearest(found), k, &|_| true)
    }

    /// The units of the points `found` (holders, best first), each holder followed by its
    /// copies that `keep` accepts; the first `k`.
    fn with_copies(
        &self,
        found: impl IntoIterator<Item = UnitHit>,
        k: usize,
        keep: &dyn Fn(usize) -> bool,
    ) -> Vec<UnitHit> {
        let no_copies = Vec::new();
        let mut hits = Vec::with_capacity(k);
        for UnitHit {
            unit: holder,
            similarity,
        } in found
        {
            let copies = self.copies.get(&holder).unwrap_or(&no_copies);
            let units = std::iter::once(holder).chain(copies.iter().copied());
            for unit in units.filter(|&u| keep(u)) {
                hits.push(UnitHit { unit, similarity });
            }
            if hits.len() >= k {
                break;
            }
        }
        hits.truncate(k);
        hits
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
        // A point is wanted when any unit that shares it is.
        let filter = |&holder: &usize| {
            keep(holder)
                || self
                    .copies
                    .get(&holder)
                    .is_some_and(|c| c.iter().any(|&u| keep(u)))
        };
        let found = self.graph.search_filter(query, k, ef, Some(&filter));
        self.with_copies(nearest(found), k, keep)
    }

    /// The `k` units nearest to `query` by brute force: the reference the graph is tested
    /// against.
    pub fn exact_search(&self, query: &[f32], k: usize) -> Vec<UnitHit> {
        let k = k.min(self.units.len());
        // Each point once: its copies follow it.
        let mut holders: Vec<UnitHit> = (self.points.iter().enumerate())
            .filter(|&(unit, _)| self.holders[unit] == unit)
            .map(|(unit, point)| UnitHit {
                unit,
                similarity: cosine(query, point.get_v()),
            })
            .collect();
        holders.sort_by(|a, b| b.similarity.total_cmp(&a.similarity));
        self.with_copies(holders, k, &|_| true)
    }
}

/// hnsw_rs's neighbours as the holders' hits.
fn nearest(found: Vec<hnsw_rs::prelude::Neighbour>) -> impl Iterator<Item = UnitHit> {
    found.into_iter().map(|n| UnitHit {
        unit: n.d_id,
        similarity: 1.0 - n.distance,
    })
}

/// The graph's points by unit id, if every holder has exactly one and no other unit has any.
fn points_by_unit(
    graph: &Hnsw<'static, f32, UnitCosine>,
    holders: &[usize],
) -> Option<Vec<Arc<Point<'static, f32>>>> {
    let mut points: Vec<Option<Arc<Point<'static, f32>>>> = vec![None; holders.len()];
    for point in graph.get_point_indexation() {
        let unit = point.get_origin_id();
        if holders.get(unit) != Some(&unit) || points[unit].replace(point).is_some() {
            return None;
        }
    }
    (0..holders.len())
        .map(|unit| points[holders[unit]].clone())
        .collect()
}

/// Reads what [`VectorIndex::save`] wrote of the units, and their holders; `None` if it is
/// damaged.
fn parse_units(bytes: &[u8]) -> Option<(Vec<Unit>, Vec<usize>)> {
    if !bytes.len().is_multiple_of(UNIT_BYTES) {
        return None;
    }
    let u32_at = |record: &[u8], at: usize| {
        u32::from_le_bytes(record[at..at + 4].try_into().expect("four bytes")) as usize
    };
    let mut units = Vec::with_capacity(bytes.len() / UNIT_BYTES);
    let mut holders: Vec<usize> = Vec::with_capacity(bytes.len() / UNIT_BYTES);
    for record in bytes.chunks_exact(UNIT_BYTES) {
        let kind = match record[4] {
            0 => UnitKind::Question,
            1 => UnitKind::Answer,
            2 => UnitKind::Sentence,
            _ => return None,
        };
        let (doc, start, end) = (u32_at(record, 0), u32_at(record, 5), u32_at(record, 9));
        let holder = u32_at(record, 13);
        if start > end
            || units.last().is_some_and(|u: &Unit| u.doc > doc)
            || holders.get(holder).is_some_and(|&h| h != holder)
            || holder > units.len()
        {
            return None;
        }
        holders.push(holder);
        units.push(Unit {
            doc,
            kind,
            span: start..end,
        });
    }
    Some((units, holders))
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `docs` pairs of one sentence each, with pseudo-random unit vectors; every pair in
    /// `repeated` gets the same vector as pair 0 (the same boilerplate sentence).
    fn index_with_copies(docs: usize, repeated: &[usize]) -> VectorIndex {
        let mut state = 7u64;
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        };
        let mut vectors: Vec<Vec<f32>> = Vec::new();
        for doc in 0..docs {
            let v: Vec<f32> = (0..16).map(|_| next()).collect();
            let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
            let v = v.into_iter().map(|x| x / norm).collect();
            vectors.push(if repeated.contains(&doc) {
                vectors[0].clone()
            } else {
                v
            });
        }
        let units = (0..docs)
            .map(|doc| Unit {
                doc,
                kind: UnitKind::Sentence,
                span: 0..0,
            })
            .collect();
        VectorIndex::build(units, vectors).unwrap()
    }

    fn units_of(hits: &[UnitHit]) -> Vec<usize> {
        hits.iter().map(|h| h.unit).collect()
    }

    #[test]
    fn copies_share_one_point_and_are_all_found() {
        let repeated = [3, 17, 40];
        let index = index_with_copies(60, &repeated);
        assert_eq!(index.graph.get_nb_point(), 60 - repeated.len());
        let query = index.vector(0).to_vec();
        let graph = index.search(&query, 6);
        assert_eq!(units_of(&graph[..4]), [0, 3, 17, 40]);
        assert_eq!(units_of(&graph), units_of(&index.exact_search(&query, 6)));
        // Asked for fewer than the copies: the first of them.
        assert_eq!(units_of(&index.search(&query, 2)), [0, 3]);
        // A filter that wants only one copy finds it through the shared point.
        let only = index.search_where(&query, 3, &|u| u == 17 || u > 41);
        assert_eq!(only[0].unit, 17);
        assert!(only.iter().all(|h| h.unit == 17 || h.unit > 41));

        // Saved and loaded, the copies still share the point.
        let dir = tempfile::tempdir().unwrap();
        index.save(dir.path()).unwrap();
        let loaded = VectorIndex::load(dir.path()).unwrap();
        assert_eq!(loaded.graph.get_nb_point(), 60 - repeated.len());
        assert_eq!(units_of(&loaded.search(&query, 6)), units_of(&graph));
        assert_eq!(loaded.vector(40), index.vector(0));
    }

    #[test]
    fn a_holder_that_is_not_its_own_is_damage() {
        let index = index_with_copies(10, &[4]);
        let dir = tempfile::tempdir().unwrap();
        index.save(dir.path()).unwrap();
        let path = dir.path().join(UNITS_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        // Unit 5 claims unit 4's point, but 4 is a copy itself.
        bytes[5 * UNIT_BYTES + 13..6 * UNIT_BYTES].copy_from_slice(&4u32.to_le_bytes());
        std::fs::write(&path, bytes).unwrap();
        let error = VectorIndex::load(dir.path())
            .err()
            .expect("damage is found");
        assert!(
            error
                .to_string()
                .contains("rebuild it with `antwort index`"),
            "{error}"
        );
    }
}
