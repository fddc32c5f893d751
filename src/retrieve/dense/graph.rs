//! The HNSW graph (hnsw_rs) over the points of a [`super::points::PointStore`], for corpora
//! too large to scan: its search is sublinear in the points, at the price of recall and of a
//! load that parses the whole graph.

use std::path::Path;

use hnsw_rs::api::AnnT;
use hnsw_rs::hnswio::{HnswIo, ReloadOptions};
use hnsw_rs::prelude::{Distance, Hnsw, Neighbour};

use super::points::{Nearest, PointStore};
use crate::embed::cosine;
use crate::error::{Error, Result};

/// Graph parameters, chosen for recall at a build cost small beside embedding.
const MAX_CONNECTIONS: usize = 24;
const EF_CONSTRUCTION: usize = 200;
/// Smallest candidate list a search keeps (hnsw_rs's `ef`): with 64, one of 92 dev queries
/// lost its 8th nearest unit of 261 to the graph at k = 10.
const MIN_EF_SEARCH: usize = 128;
const MAX_LAYERS: usize = 16;
const BASENAME: &str = "graph";

/// Cosine distance for unit-length vectors, `1 - a·b`, clamped at 0 because rounding can push
/// the dot product of a vector with itself past 1 (hnsw_rs's own `DistDot` asserts on that).
#[derive(Debug, Default, Clone, Copy)]
pub struct UnitCosine;

impl Distance<f32> for UnitCosine {
    fn eval(&self, a: &[f32], b: &[f32]) -> f32 {
        (1.0 - cosine(a, b)).max(0.0)
    }
}

/// The graph; its points are the store's rows, by row number.
pub(crate) struct Graph {
    hnsw: Hnsw<'static, f32, UnitCosine>,
}

impl Graph {
    /// Builds the graph over every row of `points`, in parallel.
    pub(crate) fn build(points: &PointStore) -> Graph {
        let rows: Vec<(&[f32], usize)> = (0..points.len()).map(|r| (points.vector(r), r)).collect();
        let mut hnsw = Hnsw::new(
            MAX_CONNECTIONS,
            rows.len().max(1),
            MAX_LAYERS,
            EF_CONSTRUCTION,
            UnitCosine,
        );
        hnsw.parallel_insert_slice(&rows);
        hnsw.set_searching_mode(true);
        Graph { hnsw }
    }

    /// Whether `dir` holds a graph.
    pub(crate) fn exists_in(dir: &Path) -> bool {
        dir.join(format!("{BASENAME}.hnsw.graph")).exists()
    }

    pub(crate) fn save(&self, dir: &Path) -> Result<()> {
        let written = self
            .hnsw
            .file_dump(dir, BASENAME)
            .map_err(|e| Error::index_caused(dir, "cannot write the HNSW graph", e))?;
        if written != BASENAME {
            return Err(Error::index(
                dir,
                "HNSW graph written under an unexpected name",
            ));
        }
        Ok(())
    }

    /// Reads what [`Graph::save`] wrote, and checks that its points are the rows `0..rows`.
    pub(crate) fn load(dir: &Path, rows: usize) -> Result<Graph> {
        let damaged =
            |what: &str| Error::index(dir, format!("{what}; rebuild it with `antwort index`"));
        // hnsw_rs ties a loaded graph to the lifetime of its loader, which maps the graph's
        // data file: leaking the loader once per load keeps the map for as long as the graph
        // lives, in a plain struct.
        let loader: &'static mut HnswIo = Box::leak(Box::new(HnswIo::new_with_options(
            dir,
            BASENAME,
            ReloadOptions::new(true),
        )));
        // hnsw_rs asserts on damaged files instead of returning an error.
        let hnsw = catch_unwind_quietly(move || { loader }.load_hnsw::<f32, UnitCosine>())
            .map_err(|_| damaged("the HNSW graph is damaged"))?
            .map_err(|e| {
                Error::index_caused(
                    dir,
                    "cannot read the HNSW graph; rebuild it with `antwort index`",
                    e,
                )
            })?;
        let mut seen = vec![false; rows];
        let every_row_once = hnsw.get_point_indexation().into_iter().all(|point| {
            let row = point.get_origin_id();
            row < rows && !std::mem::replace(&mut seen[row], true)
        });
        if !every_row_once || seen.iter().any(|s| !s) {
            return Err(damaged("the HNSW graph does not match the points"));
        }
        Ok(Graph { hnsw })
    }

    /// The `k` rows nearest to `query` that `keep` accepts, through a search list of `ef`
    /// candidates (at least [`MIN_EF_SEARCH`] unless asked for a given one), best first.
    pub(crate) fn search(
        &self,
        query: &[f32],
        k: usize,
        ef: Option<usize>,
        keep: Option<&(dyn Fn(usize) -> bool + Sync)>,
    ) -> Vec<Nearest> {
        let ef = ef.unwrap_or((2 * k).max(MIN_EF_SEARCH)).max(k);
        let found = match keep {
            None => self.hnsw.search(query, k, ef),
            Some(keep) => {
                let filter = |&row: &usize| keep(row);
                self.hnsw.search_filter(query, k, ef, Some(&filter))
            }
        };
        found.into_iter().map(nearest).collect()
    }
}

fn nearest(n: Neighbour) -> Nearest {
    Nearest {
        row: n.d_id,
        similarity: 1.0 - n.distance,
    }
}

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
