//! The points of the vector index: one embedding per distinct unit vector, kept twice, in full
//! precision and as one byte a dimension, in two flat files that a query maps instead of
//! parsing.
//!
//! The bytes are for scanning: every point's similarity to a query, approximately, reading a
//! quarter of the memory the floats would; the floats then rescore the best few of them
//! exactly ([`PointStore::nearest`]). A flat scan is what a one-shot `ask` can afford at all
//! (nothing to load but a map) and, up to a few hundred thousand points, what a warm query
//! should do too: it is exact, and no slower than a graph search with a list long enough to
//! come near exact (docs/EVALUATION.md, "Scale"). A large store that answers many queries
//! scans a copy at half a byte a dimension instead ([`super::coarse`]), since the scan is
//! bound by how many bytes it reads.

use std::fs::File;
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use memmap2::Mmap;
use rayon::prelude::*;

use super::coarse::{CoarseCodes, CoarseQuery};
use crate::embed::dot;
use crate::error::{Error, IoContext, Result};

const VECTORS_FILE: &str = "points.f32";
const CODES_FILE: &str = "points.i8";
const VECTORS_MAGIC: &[u8; 8] = b"antwpf32";
const CODES_MAGIC: &[u8; 8] = b"antwpi8\0";
/// Magic, dimensions (u32), points (u32).
const HEADER_BYTES: usize = 16;
/// A scan rescores this many times the points asked for, plus [`RESCORE_EXTRA`], exactly: the
/// byte codes (the query's and the rows') move a similarity by a few thousandths, far less
/// than the spread of the best few hundred, so the exact nearest are among them.
const RESCORE_FACTOR: usize = 4;
const RESCORE_EXTRA: usize = 64;
/// Points a scan task covers: enough to amortise a task, few enough to share two cores.
const SCAN_CHUNK: usize = 8192;
/// Rows from which a store scans a coarse copy of itself ([`CoarseCodes`]) from its second
/// query on: below, the byte scan takes a millisecond or two and stays exact.
const COARSE_FROM_ROWS: usize = 50_000;
/// The coarse scan keeps this many times what the byte scan keeps for rescoring: it ranks less
/// finely.
const COARSE_FACTOR: usize = 2;

/// A point found for a query: its row in the store and its exact similarity.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Nearest {
    pub(crate) row: usize,
    pub(crate) similarity: f32,
}

/// Unit-length vectors, row by row, with their byte codes: each row scaled by its own largest
/// magnitude to the range of an `i8`.
pub(crate) struct PointStore {
    dim: usize,
    rows: usize,
    backing: Backing,
    /// The coarse copy of a large store, made at its second query: a one-shot `ask` would
    /// spend more making it than it saves.
    coarse: OnceLock<CoarseCodes>,
    answered: AtomicBool,
}

enum Backing {
    Owned {
        vectors: Vec<f32>,
        scales: Vec<f32>,
        codes: Vec<i8>,
    },
    Mapped {
        vectors: Mmap,
        codes: Mmap,
    },
}

impl PointStore {
    /// The store of `vectors`, all of width `dim`.
    pub(crate) fn new(dim: usize, vectors: Vec<f32>) -> PointStore {
        let rows = vectors.len().checked_div(dim).unwrap_or(0);
        let (scales, codes) = vectors
            .par_chunks(dim.max(1))
            .map(encode)
            .unzip::<_, _, Vec<f32>, Vec<Vec<i8>>>();
        PointStore {
            dim,
            rows,
            backing: Backing::Owned {
                vectors,
                scales,
                codes: codes.concat(),
            },
            coarse: OnceLock::new(),
            answered: AtomicBool::new(false),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.rows
    }

    /// The vector of `row`, in full precision.
    pub(crate) fn vector(&self, row: usize) -> &[f32] {
        &self.vectors()[row * self.dim..(row + 1) * self.dim]
    }

    fn vectors(&self) -> &[f32] {
        match &self.backing {
            Backing::Owned { vectors, .. } => vectors,
            Backing::Mapped { vectors, .. } => bytemuck::cast_slice(&vectors[HEADER_BYTES..]),
        }
    }

    fn scales_and_codes(&self) -> (&[f32], &[i8]) {
        match &self.backing {
            Backing::Owned { scales, codes, .. } => (scales, codes),
            Backing::Mapped { codes, .. } => {
                let (scales, codes) = codes[HEADER_BYTES..].split_at(4 * self.rows);
                (bytemuck::cast_slice(scales), bytemuck::cast_slice(codes))
            }
        }
    }

    /// The `k` rows nearest to `query` among those `keep` accepts, best first: every row's
    /// similarity through its codes, then the best [`RESCORE_FACTOR`]` · k` rescored in full
    /// precision. Exact up to [`COARSE_FROM_ROWS`] rows; beyond, from the store's second query
    /// on, the coarse copy ranks the rows and twice as many are rescored, which finds the
    /// exact nearest but for a unit in a few thousand (docs/EVALUATION.md, "Scale").
    pub(crate) fn nearest(
        &self,
        query: &[f32],
        k: usize,
        keep: &(dyn Fn(usize) -> bool + Sync),
    ) -> Vec<Nearest> {
        if k == 0 || query.len() != self.dim {
            return Vec::new();
        }
        let scanner = match self.coarse_codes() {
            Some(coarse) => Scanner::Coarse(coarse, coarse.query(query)),
            None => Scanner::Bytes(self.scales_and_codes(), ScanQuery::new(query)),
        };
        let rescored = match scanner {
            Scanner::Coarse(..) => COARSE_FACTOR * (RESCORE_FACTOR * k + RESCORE_EXTRA),
            Scanner::Bytes(..) => RESCORE_FACTOR * k + RESCORE_EXTRA,
        };
        // Each task keeps its chunk's best, so that no similarity of every row is kept at all.
        let mut approximate: Vec<(usize, f32)> = (0..self.rows.div_ceil(SCAN_CHUNK))
            .into_par_iter()
            .flat_map_iter(|chunk| {
                let start = chunk * SCAN_CHUNK;
                let end = (start + SCAN_CHUNK).min(self.rows);
                let mut similarities = vec![0.0f32; end - start];
                scanner.scan(self.dim, start..end, &mut similarities);
                let mut best: Vec<(usize, f32)> = (start..end)
                    .zip(similarities)
                    .filter(|&(row, _)| keep(row))
                    .collect();
                keep_best(&mut best, rescored);
                best
            })
            .collect();
        keep_best(&mut approximate, rescored);
        self.exactly(
            query,
            approximate.into_iter().map(|(row, _)| row).collect(),
            k,
        )
    }

    /// The coarse copy, for a store of at least [`COARSE_FROM_ROWS`] rows that has answered a
    /// query before.
    fn coarse_codes(&self) -> Option<&CoarseCodes> {
        if self.rows < COARSE_FROM_ROWS {
            return None;
        }
        if let Some(coarse) = self.coarse.get() {
            return Some(coarse);
        }
        if !self.answered.swap(true, Ordering::Relaxed) {
            return None;
        }
        Some(self.coarse.get_or_init(|| {
            let (scales, codes) = self.scales_and_codes();
            CoarseCodes::derive(self.dim, scales, codes)
        }))
    }

    /// The `k` rows nearest to `query` by brute force in full precision: the reference that
    /// [`PointStore::nearest`] and the graph are measured against.
    pub(crate) fn exact_nearest(&self, query: &[f32], k: usize) -> Vec<Nearest> {
        self.exactly(query, (0..self.rows).collect(), k)
    }

    /// The `k` of `rows` nearest to `query` in full precision, best first; equal similarities
    /// by row, so that results do not depend on thread timing.
    fn exactly(&self, query: &[f32], rows: Vec<usize>, k: usize) -> Vec<Nearest> {
        let mut nearest: Vec<Nearest> = rows
            .into_par_iter()
            .map(|row| Nearest {
                row,
                similarity: dot(query, self.vector(row)),
            })
            .collect();
        nearest.sort_by(|a, b| {
            b.similarity
                .total_cmp(&a.similarity)
                .then(a.row.cmp(&b.row))
        });
        nearest.truncate(k);
        nearest
    }

    /// Writes the two files into `dir`.
    pub(crate) fn save(&self, dir: &Path) -> Result<()> {
        let header = |magic: &[u8; 8]| {
            let mut bytes = magic.to_vec();
            bytes.extend_from_slice(&(self.dim as u32).to_le_bytes());
            bytes.extend_from_slice(&(self.rows as u32).to_le_bytes());
            bytes
        };
        let mut vectors = header(VECTORS_MAGIC);
        vectors.extend_from_slice(bytemuck::cast_slice(self.vectors()));
        let (scales, codes) = self.scales_and_codes();
        let mut coded = header(CODES_MAGIC);
        coded.extend_from_slice(bytemuck::cast_slice(scales));
        coded.extend_from_slice(bytemuck::cast_slice(codes));
        for (name, bytes) in [(VECTORS_FILE, vectors), (CODES_FILE, coded)] {
            let path = dir.join(name);
            std::fs::write(&path, bytes).context(|| format!("cannot write {}", path.display()))?;
        }
        Ok(())
    }

    /// Maps what [`PointStore::save`] wrote, checking each file's size against its header.
    pub(crate) fn load(dir: &Path) -> Result<PointStore> {
        let (vectors, dim, rows) = map(&dir.join(VECTORS_FILE), VECTORS_MAGIC)?;
        let (codes, code_dim, code_rows) = map(&dir.join(CODES_FILE), CODES_MAGIC)?;
        let damaged = |name: &str, what: &str| {
            Error::index(
                dir.join(name),
                format!("{what}; rebuild it with `antwort index`"),
            )
        };
        if vectors.len() != HEADER_BYTES + 4 * dim * rows {
            return Err(damaged(VECTORS_FILE, "its size does not match its header"));
        }
        if (code_dim, code_rows) != (dim, rows) || codes.len() != HEADER_BYTES + (4 + dim) * rows {
            return Err(damaged(CODES_FILE, "its size does not match the vectors"));
        }
        let store = PointStore {
            dim,
            rows,
            backing: Backing::Mapped { vectors, codes },
            coarse: OnceLock::new(),
            answered: AtomicBool::new(false),
        };
        if !store
            .scales_and_codes()
            .0
            .iter()
            .all(|s| s.is_finite() && *s >= 0.0)
        {
            return Err(damaged(CODES_FILE, "its scales are not finite"));
        }
        Ok(store)
    }
}

/// A row's scale (its largest magnitude over 127) and codes.
pub(super) fn encode(row: &[f32]) -> (f32, Vec<i8>) {
    let largest = row.iter().fold(0.0f32, |m, x| m.max(x.abs()));
    let scale = largest / 127.0;
    let codes = row
        .iter()
        .map(|&x| {
            if scale > 0.0 {
                (x / scale).round() as i8
            } else {
                0
            }
        })
        .collect();
    (scale, codes)
}

/// Maps `path`, checks its magic and returns the map with the dimensions and the number of
/// points of its header.
fn map(path: &Path, magic: &[u8; 8]) -> Result<(Mmap, usize, usize)> {
    let damaged =
        |what: &str| Error::index(path, format!("{what}; rebuild it with `antwort index`"));
    let file = File::open(path).map_err(|e| {
        Error::index_caused(path, "cannot read it; rebuild it with `antwort index`", e)
    })?;
    // SAFETY: an index generation is written once into a staging directory and never changed
    // after it is switched live (a rebuild writes a new generation), so the mapped file does
    // not change under the map.
    let map = unsafe { Mmap::map(&file) }.map_err(|e| {
        Error::index_caused(path, "cannot map it; rebuild it with `antwort index`", e)
    })?;
    if map.len() < HEADER_BYTES || &map[..8] != magic {
        return Err(damaged("not a point file of this version"));
    }
    let u32_at = |at: usize| u32::from_le_bytes(map[at..at + 4].try_into().expect("four bytes"));
    let (dim, rows) = (u32_at(8) as usize, u32_at(12) as usize);
    Ok((map, dim, rows))
}

/// How a scan ranks the rows before the best are rescored.
enum Scanner<'a> {
    /// Every row's byte codes, with their scales.
    Bytes((&'a [f32], &'a [i8]), ScanQuery),
    Coarse(&'a CoarseCodes, CoarseQuery),
}

impl Scanner<'_> {
    /// The approximate similarity of each of `rows` (of `dim` dimensions) to the query.
    fn scan(&self, dim: usize, rows: Range<usize>, out: &mut [f32]) {
        match self {
            Scanner::Bytes((scales, codes), query) => {
                let codes = &codes[rows.start * dim..rows.end * dim];
                scan(query, codes, &scales[rows], out);
            }
            Scanner::Coarse(coarse, query) => coarse.scan(query, rows, out),
        }
    }
}

/// Cuts `scored` down to its `n` best, in no particular order.
fn keep_best(scored: &mut Vec<(usize, f32)>, n: usize) {
    if n < scored.len() {
        scored.select_nth_unstable_by(n, |a, b| b.1.total_cmp(&a.1));
        scored.truncate(n);
    }
}

/// A query as the scan meets it: one signed byte a dimension like the rows, so that a row's
/// similarity is an integer dot product, exact in every instruction set, times two scales.
struct ScanQuery {
    codes: Vec<i8>,
    /// `codes` plus 128: the unsigned operand VNNI's byte products want.
    unsigned: Vec<u8>,
    scale: f32,
}

impl ScanQuery {
    fn new(query: &[f32]) -> ScanQuery {
        let (scale, codes) = encode(query);
        let unsigned = codes.iter().map(|&c| (i16::from(c) + 128) as u8).collect();
        ScanQuery {
            codes,
            unsigned,
            scale,
        }
    }
}

/// The similarities of `query` to each row of `codes` (scaled by `scales`), into `out`.
///
/// The integer dot products are the same whichever instructions compute them: with AVX-512
/// VNNI 64 byte products a step, with AVX2 32, else as the compiler vectorises plain Rust for
/// any x86-64. The CPU is asked at run time, so the binary still runs everywhere.
fn scan(query: &ScanQuery, codes: &[i8], scales: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512vnni")
            && std::arch::is_x86_feature_detected!("avx512bw")
        {
            // SAFETY: the CPU has the features the function is compiled for.
            return unsafe { scan_vnni(query, codes, scales, out) };
        }
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: as above.
            return unsafe { scan_avx2(query, codes, scales, out) };
        }
    }
    scan_portable(query, codes, scales, out);
}

/// [`scan_portable`] with AVX2's `vpmaddubsw`, which multiplies unsigned by signed bytes into
/// pairs of 16-bit sums: the row's magnitudes (an unsigned byte holds even 128) times the query
/// with the row's signs, which is the product exactly. No pair sum can saturate: the query's
/// codes lie within ±127, so a pair is at most 2 × 128 × 127 = 32,512. `vpmaddwd` then adds
/// the pairs into 32-bit sums. The compiler's own vectorisation of the plain loop widened
/// every byte to 16 bits first, and took twice as long.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn scan_avx2(query: &ScanQuery, codes: &[i8], scales: &[f32], out: &mut [f32]) {
    use std::arch::x86_64::*;
    const STEP: usize = 32;
    let dim = query.codes.len();
    let whole = dim - dim % STEP;
    let ones = _mm256_set1_epi16(1);
    for ((row, &scale), out) in codes.chunks_exact(dim).zip(scales).zip(out) {
        let mut sums = _mm256_setzero_si256();
        for at in (0..whole).step_by(STEP) {
            // SAFETY: `at + STEP <= whole <= dim`, the length of both slices.
            let (query, codes) = unsafe {
                (
                    _mm256_loadu_si256(query.codes.as_ptr().add(at).cast()),
                    _mm256_loadu_si256(row.as_ptr().add(at).cast()),
                )
            };
            let pairs =
                _mm256_maddubs_epi16(_mm256_abs_epi8(codes), _mm256_sign_epi8(query, codes));
            sums = _mm256_add_epi32(sums, _mm256_madd_epi16(pairs, ones));
        }
        let mut lanes = [0i32; 8];
        // SAFETY: `lanes` is 32 writable bytes; the store is unaligned.
        unsafe { _mm256_storeu_si256(lanes.as_mut_ptr().cast(), sums) };
        let tail: i32 = (row[whole..].iter().zip(&query.codes[whole..]))
            .map(|(&c, &q)| i32::from(c) * i32::from(q))
            .sum();
        *out = scale * query.scale * (lanes.iter().sum::<i32>() + tail) as f32;
    }
}

#[inline(always)]
fn scan_portable(query: &ScanQuery, codes: &[i8], scales: &[f32], out: &mut [f32]) {
    let rows = codes.chunks_exact(query.codes.len()).zip(scales).zip(out);
    for ((row, &scale), out) in rows {
        let dot: i32 = (row.iter().zip(&query.codes))
            .map(|(&c, &q)| i32::from(c) * i32::from(q))
            .sum();
        *out = scale * query.scale * dot as f32;
    }
}

/// [`scan_portable`] with VNNI's `vpdpbusd`, which multiplies unsigned by signed bytes: the
/// query is shifted by 128 into unsigned bytes, and 128 times the row's sum taken off again.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
fn scan_vnni(query: &ScanQuery, codes: &[i8], scales: &[f32], out: &mut [f32]) {
    use std::arch::x86_64::*;
    const STEP: usize = 64;
    let dim = query.codes.len();
    let whole = dim - dim % STEP;
    let ones = _mm512_set1_epi8(1);
    for ((row, &scale), out) in codes.chunks_exact(dim).zip(scales).zip(out) {
        let (mut products, mut sums) = (_mm512_setzero_si512(), _mm512_setzero_si512());
        for at in (0..whole).step_by(STEP) {
            // SAFETY: `at + STEP <= whole <= dim`, the length of both slices.
            let (unsigned, codes) = unsafe {
                (
                    _mm512_loadu_si512(query.unsigned.as_ptr().add(at).cast()),
                    _mm512_loadu_si512(row.as_ptr().add(at).cast()),
                )
            };
            products = _mm512_dpbusd_epi32(products, unsigned, codes);
            sums = _mm512_dpbusd_epi32(sums, ones, codes);
        }
        let shifted = _mm512_sub_epi32(products, _mm512_slli_epi32::<7>(sums));
        let tail: i32 = (row[whole..].iter().zip(&query.codes[whole..]))
            .map(|(&c, &q)| i32::from(c) * i32::from(q))
            .sum();
        *out = scale * query.scale * (_mm512_reduce_add_epi32(shifted) + tail) as f32;
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// `rows` pseudo-random unit vectors of width `dim`.
    pub(crate) fn unit_vectors(rows: usize, dim: usize, seed: u64) -> Vec<f32> {
        let mut state = seed;
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) as f32 / (1u64 << 31) as f32) - 0.5
        };
        let mut vectors = Vec::with_capacity(rows * dim);
        for _ in 0..rows {
            let v: Vec<f32> = (0..dim).map(|_| next()).collect();
            let norm = dot(&v, &v).sqrt();
            vectors.extend(v.into_iter().map(|x| x / norm));
        }
        vectors
    }

    #[test]
    fn the_scan_finds_the_exact_nearest() {
        let (dim, rows) = (48, 20_000);
        let store = PointStore::new(dim, unit_vectors(rows, dim, 11));
        let queries = unit_vectors(20, dim, 5);
        for query in queries.chunks_exact(dim) {
            let scanned = store.nearest(query, 50, &|_| true);
            assert_eq!(scanned, store.exact_nearest(query, 50));
        }
    }

    /// A large store scans its byte codes at its first query and a coarse copy from its
    /// second on, and still finds the exact nearest.
    #[test]
    fn a_large_store_scans_a_coarse_copy_from_its_second_query() {
        let (dim, rows) = (32, COARSE_FROM_ROWS);
        let store = PointStore::new(dim, unit_vectors(rows, dim, 13));
        let queries = unit_vectors(20, dim, 7);
        for (i, query) in queries.chunks_exact(dim).enumerate() {
            let scanned = store.nearest(query, 50, &|_| true);
            assert_eq!(store.coarse.get().is_some(), i > 0);
            assert_eq!(scanned, store.exact_nearest(query, 50), "query {i}");
        }
        let query = store.vector(3).to_vec();
        let odd = store.nearest(&query, 20, &|row| row % 2 == 1);
        assert_eq!(odd.len(), 20);
        assert!(odd.iter().all(|n| n.row % 2 == 1));
        assert_eq!(store.nearest(&query, 1, &|_| true)[0].row, 3);
    }

    /// The byte products cannot saturate, even for codes a build never writes (-128 in a
    /// row): every instruction set gives the exact integer dot product.
    #[test]
    fn the_scan_is_exact_at_the_extremes() {
        let dim = 70;
        let query_codes: Vec<i8> = (0..dim)
            .map(|i| if i % 3 == 0 { -127 } else { 127 })
            .collect();
        let query = ScanQuery {
            unsigned: query_codes
                .iter()
                .map(|&c| (i16::from(c) + 128) as u8)
                .collect(),
            codes: query_codes,
            scale: 1.0,
        };
        let rows: Vec<Vec<i8>> = vec![
            vec![-128; dim],
            vec![127; dim],
            (0..dim)
                .map(|i| if i % 3 == 0 { -128 } else { 127 })
                .collect(),
            (0..dim).map(|i| (i as i8).wrapping_mul(37)).collect(),
        ];
        let codes: Vec<i8> = rows.concat();
        let scales = vec![1.0; rows.len()];
        let exact: Vec<f32> = (rows.iter())
            .map(|row| {
                (row.iter().zip(&query.codes))
                    .map(|(&c, &q)| i32::from(c) * i32::from(q))
                    .sum::<i32>() as f32
            })
            .collect();
        let mut got = vec![0.0; rows.len()];
        scan(&query, &codes, &scales, &mut got);
        assert_eq!(got, exact);
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU has AVX2.
            unsafe { scan_avx2(&query, &codes, &scales, &mut got) };
            assert_eq!(got, exact);
        }
    }

    #[test]
    fn codes_follow_the_vectors() {
        // 200 rows of a width that leaves a tail after the 64-byte steps.
        let dim = 392;
        let store = PointStore::new(dim, unit_vectors(200, dim, 3));
        let (scales, codes) = store.scales_and_codes();
        let query = store.vector(7).to_vec();
        let scan_query = ScanQuery::new(&query);
        let mut approximate = vec![0.0; store.len()];
        scan(&scan_query, codes, scales, &mut approximate);
        let mut portable = vec![0.0; store.len()];
        scan_portable(&scan_query, codes, scales, &mut portable);
        for (row, (&fast, &slow)) in approximate.iter().zip(&portable).enumerate() {
            let exact = dot(&query, store.vector(row));
            assert!((fast - exact).abs() < 4e-3, "{row}: {fast} vs {exact}");
            assert_eq!(fast, slow, "{row}");
        }
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            let mut avx2 = vec![0.0; store.len()];
            // SAFETY: the CPU has AVX2.
            unsafe { scan_avx2(&scan_query, codes, scales, &mut avx2) };
            assert_eq!(avx2, portable);
        }
    }

    #[test]
    fn a_filter_narrows_the_scan() {
        let dim = 32;
        let store = PointStore::new(dim, unit_vectors(1000, dim, 9));
        let query = store.vector(10).to_vec();
        let odd = store.nearest(&query, 20, &|row| row % 2 == 1);
        assert_eq!(odd.len(), 20);
        assert!(odd.iter().all(|n| n.row % 2 == 1));
        assert_eq!(store.nearest(&query, 1, &|_| true)[0].row, 10);
    }

    #[test]
    fn saved_and_mapped_the_store_is_the_same() {
        let dim = 24;
        let store = PointStore::new(dim, unit_vectors(300, dim, 1));
        let dir = tempfile::tempdir().unwrap();
        store.save(dir.path()).unwrap();
        let mapped = PointStore::load(dir.path()).unwrap();
        assert_eq!((mapped.dim, mapped.len()), (dim, 300));
        assert_eq!(mapped.vector(299), store.vector(299));
        assert_eq!(mapped.scales_and_codes(), store.scales_and_codes());
        let query = store.vector(5).to_vec();
        assert_eq!(
            mapped.nearest(&query, 10, &|_| true),
            store.nearest(&query, 10, &|_| true)
        );
    }

    #[test]
    fn a_damaged_file_is_named() {
        let dim = 8;
        let dir = tempfile::tempdir().unwrap();
        PointStore::new(dim, unit_vectors(10, dim, 2))
            .save(dir.path())
            .unwrap();
        let path = dir.path().join(CODES_FILE);
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        let error = PointStore::load(dir.path())
            .err()
            .expect("damage is found")
            .to_string();
        assert!(
            error.contains(CODES_FILE) && error.contains("antwort index"),
            "{error}"
        );
        std::fs::remove_file(dir.path().join(VECTORS_FILE)).unwrap();
        let error = PointStore::load(dir.path())
            .err()
            .expect("a missing file is found")
            .to_string();
        assert!(error.contains(VECTORS_FILE), "{error}");
    }
}
