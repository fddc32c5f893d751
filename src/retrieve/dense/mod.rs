//! The vector stage: every question, every answer and every answer sentence is a *unit* with
//! its own embedding, and the arm ([`DenseRetriever`]) folds the units nearest to the query
//! into one score per pair, their best.
//!
//! Units finer than the answer matter twice: a question that asks about a detail buried in a
//! long answer matches the sentence better than the whole answer, and the sentence that matched
//! is what a hit shows as its excerpt.
//!
//! ```text
//! units ──▶ rows ──▶ points::PointStore   floats + byte codes, mapped: the scan, exact
//!                │                         (coarse::CoarseCodes: half a byte a dimension,
//!                │                          for the scans of a large store's warm queries)
//!                └─▶ graph::Graph         HNSW over the same rows, built for large corpora
//! ```
//!
//! Units with the same vector (the same text: a build embeds each distinct text once) share
//! one *row*, a point of the store and of the graph. Real collections repeat themselves: in
//! medquad-liveqa 31 % of the units repeat another's text, one boilerplate sentence 2,243
//! times. HNSW's neighbour selection never prunes a copy in favour of another, so a group of
//! copies links mostly to itself and traps the searches that enter it (a graph over every copy
//! found 77 % of the exact top ten there); one point per text gives the graph back its reach,
//! and spares the scan the copies.
//!
//! A query finds its nearest rows by scanning the store ([`points::PointStore::nearest`]) or,
//! when the index was built with one, through the graph; which one is the build's choice
//! ([`GraphPolicy`]): below [`GRAPH_FROM_ROWS`] rows the scan is exact and no slower.

mod coarse;
mod graph;
mod points;

use std::path::Path;

use super::{best_first, filter, PairHit, RetrievalQuery, Retrieved, Retriever};
use crate::corpus::{units_of_pair, Unit, UnitKind};
use crate::error::{Error, IoContext, Result};

use graph::Graph;
pub use graph::UnitCosine;
use points::{Nearest, PointStore};

/// A unit found for a query vector.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct UnitHit {
    pub unit: usize,
    pub similarity: f32,
}

/// Rows from which [`GraphPolicy::Auto`] builds the graph: where a scan of every row (about
/// 24 ns a row on the two cores antwort was measured on) would cost more than the
/// query's embedding, see docs/EVALUATION.md, "Scale".
pub const GRAPH_FROM_ROWS: usize = 200_000;

/// Whether a build adds an HNSW graph over the rows. A build records the one it was given in
/// its manifest, and a rebuild that is not told otherwise keeps it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GraphPolicy {
    /// From [`GRAPH_FROM_ROWS`] rows on.
    #[default]
    Auto,
    Always,
    Never,
}

impl GraphPolicy {
    fn wants_graph(self, rows: usize) -> bool {
        match self {
            GraphPolicy::Auto => rows >= GRAPH_FROM_ROWS,
            GraphPolicy::Always => true,
            GraphPolicy::Never => false,
        }
    }
}

const UNITS_FILE: &str = "units.bin";
/// A unit in [`UNITS_FILE`]: pair (u32), kind (u8), span start and end (u32), and its row
/// (u32), little-endian.
const UNIT_BYTES: usize = 17;

/// Units, their embeddings by row, and the graph over the rows if the index has one.
pub struct VectorIndex {
    units: Vec<Unit>,
    /// Each unit's row. Rows are numbered in the order of their first unit.
    rows: Vec<u32>,
    /// The units of each row, ascending: `row_units[row_starts[r]..row_starts[r + 1]]`.
    row_starts: Vec<u32>,
    row_units: Vec<u32>,
    points: PointStore,
    graph: Option<Graph>,
}

/// Each unit's row: the same for units whose vectors are bit for bit the same, numbered in
/// order of first appearance. `vectors` (one per unit, `dim` wide, flat) is compacted in place
/// to the rows' vectors: a row's vector never lies behind its first unit's, so moving it there
/// overwrites only vectors already read.
///
/// Keyed by a hash of the bits rather than the bits themselves, so that finding the copies
/// costs a few bytes a unit instead of a second copy of every vector.
fn compact_rows(vectors: &mut Vec<f32>, dim: usize) -> Vec<u32> {
    use std::collections::HashMap;
    use std::hash::{Hash, Hasher};
    let units = vectors.len().checked_div(dim).unwrap_or(0);
    let mut by_hash: HashMap<u64, Vec<u32>> = HashMap::with_capacity(units);
    let mut rows = Vec::with_capacity(units);
    let mut next_row = 0usize;
    for unit in 0..units {
        let vector = unit * dim..(unit + 1) * dim;
        let mut hasher = std::hash::DefaultHasher::new();
        vectors[vector.clone()]
            .iter()
            .for_each(|x| x.to_bits().hash(&mut hasher));
        let candidates = by_hash.entry(hasher.finish()).or_default();
        let same_bits = |row: u32| {
            let row = row as usize * dim;
            (vectors[row..row + dim].iter().zip(&vectors[vector.clone()]))
                .all(|(x, y)| x.to_bits() == y.to_bits())
        };
        let row = match candidates.iter().copied().find(|&row| same_bits(row)) {
            Some(row) => row,
            None => {
                vectors.copy_within(vector, next_row * dim);
                candidates.push(next_row as u32);
                next_row += 1;
                next_row as u32 - 1
            }
        };
        rows.push(row);
    }
    vectors.truncate(next_row * dim);
    vectors.shrink_to_fit();
    rows
}

/// The units of each row, as offsets into a list of units (see [`VectorIndex::row_units`]).
fn units_by_row(rows: &[u32], row_count: usize) -> (Vec<u32>, Vec<u32>) {
    let mut starts = vec![0u32; row_count + 1];
    for &row in rows {
        starts[row as usize + 1] += 1;
    }
    for r in 0..row_count {
        starts[r + 1] += starts[r];
    }
    let mut next = starts.clone();
    let mut units = vec![0u32; rows.len()];
    for (unit, &row) in rows.iter().enumerate() {
        units[next[row as usize] as usize] = unit as u32;
        next[row as usize] += 1;
    }
    (starts, units)
}

impl VectorIndex {
    /// The index of `units`, with their `vectors` (one each, all of one width), and a graph
    /// over them when `graph` wants one.
    pub fn build(
        units: Vec<Unit>,
        vectors: Vec<Vec<f32>>,
        graph: GraphPolicy,
    ) -> Result<VectorIndex> {
        if units.len() != vectors.len() {
            return Err(Error::Internal(format!(
                "{} units but {} vectors",
                units.len(),
                vectors.len()
            )));
        }
        let dim = vectors.first().map_or(0, Vec::len);
        if vectors.iter().any(|v| v.len() != dim) {
            return Err(Error::Internal("unit vectors differ in width".into()));
        }
        VectorIndex::from_flat(units, dim, vectors.concat(), graph)
    }

    /// [`VectorIndex::build`] from the units' vectors one after another in one buffer, `dim`
    /// wide: what a build of a large corpus collects, without a second copy of them.
    pub fn from_flat(
        units: Vec<Unit>,
        dim: usize,
        mut vectors: Vec<f32>,
        graph: GraphPolicy,
    ) -> Result<VectorIndex> {
        if units.len().checked_mul(dim) != Some(vectors.len()) || (dim == 0 && !units.is_empty()) {
            return Err(Error::Internal(format!(
                "{} units but {} vector values of width {dim}",
                units.len(),
                vectors.len()
            )));
        }
        let rows = compact_rows(&mut vectors, dim);
        let points = PointStore::new(dim, vectors);
        let graph = graph
            .wants_graph(points.len())
            .then(|| Graph::build(&points));
        Ok(VectorIndex::assemble(units, rows, points, graph))
    }

    fn assemble(
        units: Vec<Unit>,
        rows: Vec<u32>,
        points: PointStore,
        graph: Option<Graph>,
    ) -> VectorIndex {
        let (row_starts, row_units) = units_by_row(&rows, points.len());
        VectorIndex {
            units,
            rows,
            row_starts,
            row_units,
            points,
            graph,
        }
    }

    /// Writes units, points and graph into `dir`.
    pub fn save(&self, dir: &Path) -> Result<()> {
        let mut units = Vec::with_capacity(self.units.len() * UNIT_BYTES);
        for (unit, &row) in self.units.iter().zip(&self.rows) {
            let kind = match unit.kind {
                UnitKind::Question => 0u8,
                UnitKind::Answer => 1,
                UnitKind::Sentence => 2,
            };
            units.extend_from_slice(&(unit.doc as u32).to_le_bytes());
            units.push(kind);
            units.extend_from_slice(&(unit.span.start as u32).to_le_bytes());
            units.extend_from_slice(&(unit.span.end as u32).to_le_bytes());
            units.extend_from_slice(&row.to_le_bytes());
        }
        std::fs::write(dir.join(UNITS_FILE), units)
            .context(|| format!("cannot write {}", dir.join(UNITS_FILE).display()))?;
        self.points.save(dir)?;
        match &self.graph {
            Some(graph) => graph.save(dir),
            None => Ok(()),
        }
    }

    /// Reads what [`VectorIndex::save`] wrote; the points are mapped, not read.
    pub fn load(dir: &Path) -> Result<VectorIndex> {
        let damaged = |what: String| {
            Error::index(
                dir.join(UNITS_FILE),
                format!("{what}; rebuild it with `antwort index`"),
            )
        };
        let bytes = std::fs::read(dir.join(UNITS_FILE)).map_err(|e| {
            Error::index_caused(
                dir.join(UNITS_FILE),
                "cannot read it; rebuild it with `antwort index`",
                e,
            )
        })?;
        let (units, rows) = parse_units(&bytes).ok_or_else(|| damaged("damaged".into()))?;
        let points = PointStore::load(dir)?;
        let row_count = rows.iter().max().map_or(0, |&r| r as usize + 1);
        if row_count != points.len() {
            return Err(damaged(format!(
                "its units use {row_count} rows but the points hold {}",
                points.len()
            )));
        }
        let graph = match Graph::exists_in(dir) {
            true => Some(Graph::load(dir, points.len())?),
            false => None,
        };
        Ok(VectorIndex::assemble(units, rows, points, graph))
    }

    pub fn units(&self) -> &[Unit] {
        &self.units
    }

    pub fn vector(&self, unit: usize) -> &[f32] {
        self.points.vector(self.rows[unit] as usize)
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

    /// Distinct vectors: the points the scan reads and the graph links.
    pub fn rows(&self) -> usize {
        self.points.len()
    }

    /// Whether the index has an HNSW graph (see [`GraphPolicy`]).
    pub fn has_graph(&self) -> bool {
        self.graph.is_some()
    }

    /// The units of `row`, ascending.
    fn row_units(&self, row: usize) -> &[u32] {
        &self.row_units[self.row_starts[row] as usize..self.row_starts[row + 1] as usize]
    }

    /// The `k` units nearest to `query`, best first: through the graph when the index has one,
    /// else by the scan, which is exact.
    pub fn search(&self, query: &[f32], k: usize) -> Vec<UnitHit> {
        let k = k.min(self.units.len());
        let found = match &self.graph {
            Some(graph) => graph.search(query, k, None, None),
            None => self.points.nearest(query, k, &|_| true),
        };
        self.units_of_rows(found, k, &|_| true)
    }

    /// The `k` units nearest to `query` by the scan, whether or not the index has a graph.
    pub fn scan_search(&self, query: &[f32], k: usize) -> Vec<UnitHit> {
        let k = k.min(self.units.len());
        self.units_of_rows(self.points.nearest(query, k, &|_| true), k, &|_| true)
    }

    /// The `k` units nearest to `query` through the graph with a search list of `ef`
    /// candidates (at least `k`), for measuring recall at other list lengths; `None` without
    /// a graph.
    pub fn graph_search_with_list(
        &self,
        query: &[f32],
        k: usize,
        ef: usize,
    ) -> Option<Vec<UnitHit>> {
        let k = k.min(self.units.len());
        let graph = self.graph.as_ref()?;
        Some(self.units_of_rows(graph.search(query, k, Some(ef), None), k, &|_| true))
    }

    /// The `k` units nearest to `query` among those `keep` accepts, best first; through the
    /// graph, fewer than `k` when the filtered search runs out of candidates (see
    /// [`super::filter::nearest_allowed`], which falls back to an exact search then).
    pub fn search_where(
        &self,
        query: &[f32],
        k: usize,
        keep: &(dyn Fn(usize) -> bool + Sync),
    ) -> Vec<UnitHit> {
        let k = k.min(self.units.len());
        // A row is wanted when any unit that shares it is.
        let keep_row = |row: usize| self.row_units(row).iter().any(|&u| keep(u as usize));
        let found = match &self.graph {
            Some(graph) => graph.search(query, k, None, Some(&keep_row)),
            None => self.points.nearest(query, k, &keep_row),
        };
        self.units_of_rows(found, k, keep)
    }

    /// The `k` units nearest to `query` by brute force in full precision: the reference the
    /// scan and the graph are tested against.
    pub fn exact_search(&self, query: &[f32], k: usize) -> Vec<UnitHit> {
        let k = k.min(self.units.len());
        // Each row holds at least one unit: `k` rows hold the first `k` units.
        let found = self.points.exact_nearest(query, k);
        self.units_of_rows(found, k, &|_| true)
    }

    /// The units of the rows `found` (best first), each row's that `keep` accepts in unit
    /// order; the first `k`.
    fn units_of_rows(
        &self,
        found: Vec<Nearest>,
        k: usize,
        keep: &(dyn Fn(usize) -> bool + Sync),
    ) -> Vec<UnitHit> {
        let mut hits = Vec::with_capacity(k);
        for Nearest { row, similarity } in found {
            let units = self.row_units(row).iter().map(|&u| u as usize);
            hits.extend(
                units
                    .filter(|&u| keep(u))
                    .map(|unit| UnitHit { unit, similarity }),
            );
            if hits.len() >= k {
                break;
            }
        }
        hits.truncate(k);
        hits
    }
}

/// Reads what [`VectorIndex::save`] wrote of the units, and their rows; `None` if it is
/// damaged. Rows must be numbered in order of their first unit, as a build numbers them.
fn parse_units(bytes: &[u8]) -> Option<(Vec<Unit>, Vec<u32>)> {
    if !bytes.len().is_multiple_of(UNIT_BYTES) {
        return None;
    }
    let u32_at = |record: &[u8], at: usize| {
        u32::from_le_bytes(record[at..at + 4].try_into().expect("four bytes"))
    };
    let mut units = Vec::with_capacity(bytes.len() / UNIT_BYTES);
    let mut rows: Vec<u32> = Vec::with_capacity(bytes.len() / UNIT_BYTES);
    let mut next_row = 0u32;
    for record in bytes.chunks_exact(UNIT_BYTES) {
        let kind = match record[4] {
            0 => UnitKind::Question,
            1 => UnitKind::Answer,
            2 => UnitKind::Sentence,
            _ => return None,
        };
        let doc = u32_at(record, 0) as usize;
        let (start, end) = (u32_at(record, 5) as usize, u32_at(record, 9) as usize);
        let row = u32_at(record, 13);
        if start > end || units.last().is_some_and(|u: &Unit| u.doc > doc) || row > next_row {
            return None;
        }
        if row == next_row {
            next_row += 1;
        }
        rows.push(row);
        units.push(Unit {
            doc,
            kind,
            span: start..end,
        });
    }
    Some((units, rows))
}

/// How the dense arm finds a query's nearest units.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum NeighbourSearch {
    /// The index's own way ([`VectorIndex::search`]): the graph when it has one, else the scan.
    #[default]
    Indexed,
    /// By brute force over every point in full precision: exact, linear in the corpus.
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
            (None, NeighbourSearch::Indexed) => self.index.search(&encoding.vector, k),
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
    fn index_with_copies(docs: usize, repeated: &[usize], graph: GraphPolicy) -> VectorIndex {
        let random = points::tests::unit_vectors(docs, 16, 7);
        let mut vectors: Vec<Vec<f32>> = random.chunks_exact(16).map(<[f32]>::to_vec).collect();
        for &doc in repeated {
            vectors[doc] = vectors[0].clone();
        }
        let units = (0..docs)
            .map(|doc| Unit {
                doc,
                kind: UnitKind::Sentence,
                span: 0..0,
            })
            .collect();
        VectorIndex::build(units, vectors, graph).unwrap()
    }

    fn units_of(hits: &[UnitHit]) -> Vec<usize> {
        hits.iter().map(|h| h.unit).collect()
    }

    #[test]
    fn copies_share_one_point_and_are_all_found() {
        let repeated = [3, 17, 40];
        for policy in [GraphPolicy::Never, GraphPolicy::Always] {
            let index = index_with_copies(60, &repeated, policy);
            assert_eq!(index.rows(), 60 - repeated.len());
            assert_eq!(index.has_graph(), policy == GraphPolicy::Always);
            let query = index.vector(0).to_vec();
            let found = index.search(&query, 6);
            assert_eq!(units_of(&found[..4]), [0, 3, 17, 40], "{policy:?}");
            assert_eq!(units_of(&found), units_of(&index.exact_search(&query, 6)));
            assert_eq!(units_of(&found), units_of(&index.scan_search(&query, 6)));
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
            assert_eq!(loaded.rows(), 60 - repeated.len());
            assert_eq!(loaded.has_graph(), index.has_graph());
            assert_eq!(units_of(&loaded.search(&query, 6)), units_of(&found));
            assert_eq!(loaded.vector(40), index.vector(0));
        }
    }

    #[test]
    fn the_graph_is_built_from_a_size_on() {
        assert!(!GraphPolicy::Auto.wants_graph(GRAPH_FROM_ROWS - 1));
        assert!(GraphPolicy::Auto.wants_graph(GRAPH_FROM_ROWS));
        assert!(!index_with_copies(10, &[], GraphPolicy::Auto).has_graph());
    }

    #[test]
    fn a_row_out_of_order_is_damage() {
        let index = index_with_copies(10, &[4], GraphPolicy::Never);
        let dir = tempfile::tempdir().unwrap();
        index.save(dir.path()).unwrap();
        let path = dir.path().join(UNITS_FILE);
        let mut bytes = std::fs::read(&path).unwrap();
        // Unit 5 claims a row that no unit before it has opened.
        bytes[5 * UNIT_BYTES + 13..6 * UNIT_BYTES].copy_from_slice(&7u32.to_le_bytes());
        std::fs::write(&path, bytes).unwrap();
        let error = VectorIndex::load(dir.path())
            .err()
            .expect("damage is found")
            .to_string();
        assert!(
            error.contains(UNITS_FILE) && error.contains("rebuild it with `antwort index`"),
            "{error}"
        );
    }
}
