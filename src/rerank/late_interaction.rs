//! Late interaction: every token of the query looks for its most similar token in a pair, and
//! the pair scores the mean of those best similarities (ColBERT's MaxSim).
//!
//! A pooled embedding squeezes a question and a long answer into one point each; a paraphrase
//! that shares the meaning but not the emphasis lands far from it. Token states keep what each
//! word meant in its sentence, so "Fälschung entlarven" still finds the discriminator's
//! sentence. e5 was not trained for this, yet on the bundled dev queries MaxSim over its token
//! states ranks better than its pooled vectors — too costly over a whole corpus, cheap over the
//! top fused candidates, which is where [`super::MaxSim`] uses it.
//!
//! Before they meet, every state loses the corpus's mean token state. e5's token states share
//! one large common direction, so every query token finds a fairly similar token in any
//! candidate (unrelated pairs scored about 0.75 before centring, the answer 0.85) and MaxSim's
//! differences shrink into that floor; what is left after removing the mean is what tells
//! tokens apart (Mu & Viswanath's "all-but-the-top" for word vectors). It has no parameter to
//! tune; what it gained is in docs/EVALUATION.md.
//!
//! The states come free with the units' embeddings at index time (the same ONNX run), and are
//! stored at one byte per dimension with a scale per token: a quarter of `f32`'s size, with
//! rankings unchanged on the judged queries. At about 390 bytes a token they are the largest
//! part of an index (3 MB for the bundled corpus; some 400 MB for a million tokens), so a
//! loaded index maps them from disk and only the candidates' pages are ever read.

use std::io::Write;
use std::path::Path;

use ndarray::{ArrayView2, Axis};

use crate::embed::{centre, Encoding};
use crate::error::{Error, IoContext, Result};

const MAGIC: &[u8; 8] = b"antwTOK2";

/// The token states of every pair, centred (see the module docs) and quantized.
#[derive(Debug)]
pub struct TokenIndex {
    dim: usize,
    /// The mean token state of the corpus, taken from every row before they were centred; a
    /// query's states are centred on it too.
    mean: Vec<f32>,
    /// Rows of pair `d` are `offsets[d]..offsets[d + 1]`.
    offsets: Vec<usize>,
    /// Per row: the factor that turns its bytes back into the state.
    scales: Vec<f32>,
    /// Row after row, `dim` signed bytes each.
    values: Values,
}

/// The quantized rows: in memory while building, mapped from the file once saved.
#[derive(Debug)]
enum Values {
    Owned(Vec<u8>),
    /// The whole file, and where the rows start in it.
    Mapped(memmap2::Mmap, usize),
}

impl Values {
    fn bytes(&self) -> &[u8] {
        match self {
            Values::Owned(bytes) => bytes,
            Values::Mapped(map, start) => &map[*start..],
        }
    }
}

impl PartialEq for TokenIndex {
    fn eq(&self, other: &TokenIndex) -> bool {
        self.dim == other.dim
            && self.mean == other.mean
            && self.offsets == other.offsets
            && self.scales == other.scales
            && self.values.bytes() == other.values.bytes()
    }
}

/// Collects the units' token states as they are embedded, in any order, quantizing each unit's
/// at once: a build never holds more than one batch of states at full size.
pub struct TokenIndexBuilder {
    /// The model's dimension, known from the first encoding.
    dim: usize,
    /// The sum of every row, exact, for the mean.
    sum: Vec<f64>,
    /// Per unit: its rows' scales and bytes.
    units: Vec<(Vec<f32>, Vec<u8>)>,
}

impl TokenIndexBuilder {
    pub fn new(units: usize) -> TokenIndexBuilder {
        TokenIndexBuilder {
            dim: 0,
            sum: Vec::new(),
            units: vec![(Vec::new(), Vec::new()); units],
        }
    }

    /// Quantizes the token states of `unit`, and adds them to the mean.
    pub fn add(&mut self, unit: usize, encoding: &Encoding) {
        self.dim = encoding.dim();
        self.sum.resize(self.dim, 0.0);
        let (scales, values) = &mut self.units[unit];
        for row in encoding.token_rows() {
            for (sum, &x) in self.sum.iter_mut().zip(row) {
                *sum += f64::from(x);
            }
            quantize(row, scales, values);
        }
    }

    /// The index over `docs` pairs; `unit_docs` gives the pair of each unit. Pairs without
    /// units have no rows. Every row is centred on the mean of all and quantized again.
    pub fn finish(self, docs: usize, unit_docs: &[usize]) -> TokenIndex {
        let rows: usize = self.units.iter().map(|(scales, _)| scales.len()).sum();
        let mean: Vec<f32> = self
            .sum
            .iter()
            .map(|&sum| (sum / rows.max(1) as f64) as f32)
            .collect();
        let mut units_of: Vec<Vec<usize>> = vec![Vec::new(); docs];
        for (unit, &doc) in unit_docs.iter().enumerate() {
            units_of[doc].push(unit);
        }
        let mut offsets = Vec::with_capacity(docs + 1);
        let (mut scales, mut values) = (Vec::new(), Vec::new());
        offsets.push(0);
        for units in units_of {
            for unit in units {
                let (unit_scales, unit_values) = &self.units[unit];
                let mut row = vec![0.0; self.dim];
                for (&scale, bytes) in unit_scales.iter().zip(unit_values.chunks_exact(self.dim)) {
                    dequantize(scale, bytes, &mut row);
                    centre(&mut row, &mean);
                    quantize(&row, &mut scales, &mut values);
                }
            }
            offsets.push(scales.len());
        }
        TokenIndex {
            dim: self.dim,
            mean,
            offsets,
            scales,
            values: Values::Owned(values),
        }
    }
}

impl TokenIndex {
    pub fn docs(&self) -> usize {
        self.offsets.len() - 1
    }

    /// The corpus's mean token state, on which every state is centred before MaxSim.
    pub fn mean(&self) -> &[f32] {
        &self.mean
    }

    /// Token rows stored, over all pairs.
    pub fn rows(&self) -> usize {
        self.scales.len()
    }

    /// A query's token states (unit-length rows of the index's dimension) made ready to meet
    /// this index's: centred on its mean.
    pub fn query(&self, query_tokens: &[f32]) -> QueryTokens {
        let rows = query_tokens.len().checked_div(self.dim).unwrap_or(0);
        let mut values = query_tokens[..rows * self.dim].to_vec();
        for row in values.chunks_exact_mut(self.dim) {
            centre(row, &self.mean);
        }
        QueryTokens {
            dim: self.dim,
            rows,
            values,
        }
    }

    /// The stored token states of pair `doc`.
    pub fn doc(&self, doc: usize) -> DocTokens<'_> {
        let span = self.offsets[doc]..self.offsets[doc + 1];
        DocTokens {
            dim: self.dim,
            scales: &self.scales[span.clone()],
            values: &self.values.bytes()[span.start * self.dim..span.end * self.dim],
        }
    }

    /// MaxSim of `query_tokens` (see [`TokenIndex::query`]) against each pair of `docs`.
    pub fn maxsim(&self, query_tokens: &[f32], docs: &[usize]) -> Vec<f32> {
        let query = self.query(query_tokens);
        let mut buffer = Vec::new();
        docs.iter()
            .map(|&doc| self.doc(doc).maxsim_in(&query, &mut buffer))
            .collect()
    }

    /// Writes the index to `path`: a header, the mean, then offsets, scales and bytes,
    /// little-endian.
    pub fn save(&self, path: &Path) -> Result<()> {
        let mut out = Vec::with_capacity(32 + self.offsets.len() * 8 + self.scales.len() * 4);
        out.extend_from_slice(MAGIC);
        for n in [self.dim, self.docs(), self.rows()] {
            out.extend_from_slice(&(n as u64).to_le_bytes());
        }
        for &m in &self.mean {
            out.extend_from_slice(&m.to_le_bytes());
        }
        for &o in &self.offsets {
            out.extend_from_slice(&(o as u64).to_le_bytes());
        }
        for &s in &self.scales {
            out.extend_from_slice(&s.to_le_bytes());
        }
        out.extend_from_slice(self.values.bytes());
        let mut file =
            std::fs::File::create(path).context(|| format!("cannot write {}", path.display()))?;
        file.write_all(&out)
            .and_then(|()| file.sync_all())
            .context(|| format!("cannot write {}", path.display()))
    }

    /// Maps what [`TokenIndex::save`] wrote, checking every length against the header.
    pub fn load(path: &Path) -> Result<TokenIndex> {
        let damaged = |why: &str| {
            Error::index(
                path,
                format!("token states are damaged ({why}); rebuild with `antwort index`"),
            )
        };
        let file = std::fs::File::open(path).map_err(|e| damaged(&e.to_string()))?;
        // SAFETY: an index generation is written once into a staging directory and never
        // changed after it is switched live (a rebuild writes a new generation), so the
        // mapped file does not change under the map.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| damaged(&e.to_string()))?;
        let mut reader = Reader(&map);
        if reader.take(MAGIC.len()) != Some(MAGIC.as_slice()) {
            return Err(damaged("not a token file"));
        }
        let mut header = [0usize; 3];
        for n in &mut header {
            *n = reader.u64().ok_or_else(|| damaged("short header"))?;
        }
        let [dim, docs, rows] = header;
        let expected = (docs + 1)
            .checked_mul(8)
            .and_then(|o| o.checked_add(dim.checked_mul(4)?))
            .and_then(|o| rows.checked_mul(4 + dim).and_then(|r| r.checked_add(o)));
        if (dim == 0 && rows > 0) || expected != Some(reader.0.len()) {
            return Err(damaged("its size does not match its header"));
        }
        let mean: Vec<f32> = (0..dim).filter_map(|_| reader.f32()).collect();
        let offsets: Vec<usize> = (0..=docs).filter_map(|_| reader.u64()).collect();
        let scales: Vec<f32> = (0..rows).filter_map(|_| reader.f32()).collect();
        let start = map.len() - reader.0.len();
        let ordered = offsets.first() == Some(&0)
            && offsets.last() == Some(&rows)
            && offsets.windows(2).all(|w| w[0] <= w[1]);
        if !ordered {
            return Err(damaged("its offsets are out of order"));
        }
        Ok(TokenIndex {
            dim,
            mean,
            offsets,
            scales,
            values: Values::Mapped(map, start),
        })
    }
}

/// A query's token states, centred on an index's mean ([`TokenIndex::query`]).
#[derive(Debug, Clone)]
pub struct QueryTokens {
    dim: usize,
    rows: usize,
    values: Vec<f32>,
}

/// One pair's stored token states, quantized: what late interaction reads of a candidate.
#[derive(Debug, Clone, Copy)]
pub struct DocTokens<'a> {
    dim: usize,
    scales: &'a [f32],
    values: &'a [u8],
}

impl DocTokens<'_> {
    /// Token rows stored for the pair.
    pub fn rows(&self) -> usize {
        self.scales.len()
    }

    /// MaxSim: the mean over the query's tokens of their best cosine with one of the pair's
    /// tokens. Zero when either side has no tokens.
    ///
    /// The pair's rows are restored into a buffer, then meet the query's in a matrix product,
    /// which `matrixmultiply` runs with the CPU's widest vector instructions.
    pub fn maxsim(&self, query: &QueryTokens) -> f32 {
        self.maxsim_in(query, &mut Vec::new())
    }

    /// [`DocTokens::maxsim`] restoring the rows into `buffer`: scoring many candidates through
    /// one buffer keeps it in cache instead of asking the allocator for fresh pages each time.
    pub fn maxsim_in(&self, query: &QueryTokens, buffer: &mut Vec<f32>) -> f32 {
        if query.rows == 0 || self.scales.is_empty() || query.dim != self.dim {
            return 0.0;
        }
        let query_rows = ArrayView2::from_shape((query.rows, self.dim), &query.values[..])
            .expect("length is rows × dim");
        buffer.resize(self.scales.len() * self.dim, 0.0);
        for ((row, &scale), bytes) in buffer
            .chunks_exact_mut(self.dim)
            .zip(self.scales)
            .zip(self.values.chunks_exact(self.dim))
        {
            dequantize(scale, bytes, row);
        }
        let rows = ArrayView2::from_shape((self.scales.len(), self.dim), &buffer[..])
            .expect("length is rows × dim");
        let best = rows
            .dot(&query_rows.t())
            .fold_axis(Axis(0), f32::NEG_INFINITY, |m, &x| m.max(x));
        best.sum() / query.rows as f32
    }
}

/// Appends `row` at one byte per dimension, with one scale that maps its largest magnitude to 127.
fn quantize(row: &[f32], scales: &mut Vec<f32>, values: &mut Vec<u8>) {
    let scale = row.iter().fold(0.0f32, |m, x| m.max(x.abs())) / 127.0;
    let inverse = if scale > 0.0 { 1.0 / scale } else { 0.0 };
    scales.push(scale);
    values.extend(row.iter().map(|x| (x * inverse).round() as i8 as u8));
}

/// Restores into `row` what [`quantize`] stored.
fn dequantize(scale: f32, bytes: &[u8], row: &mut [f32]) {
    for (x, &b) in row.iter_mut().zip(bytes) {
        *x = f32::from(b as i8) * scale;
    }
}

/// Reads little-endian numbers off the front of a byte slice.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (self.0.get(..n)?, self.0.get(n..)?);
        self.0 = rest;
        Some(head)
    }

    fn u64(&mut self) -> Option<usize> {
        let bytes = self.take(8)?.try_into().ok()?;
        usize::try_from(u64::from_le_bytes(bytes)).ok()
    }

    fn f32(&mut self) -> Option<f32> {
        Some(f32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn dot(a: &[f32], b: &[f32]) -> f32 {
        a.iter().zip(b).map(|(x, y)| x * y).sum()
    }

    fn unit(v: Vec<f32>) -> Vec<f32> {
        let n = dot(&v, &v).sqrt();
        v.into_iter().map(|x| x / n).collect()
    }

    fn encoding(rows: &[Vec<f32>]) -> Encoding {
        Encoding {
            vector: unit(vec![1.0; rows[0].len()]),
            tokens: rows.concat(),
        }
    }

    /// The index of `docs` pairs over units of the given pairs, added out of order as a build
    /// adds them (length-sorted).
    fn build(docs: usize, unit_docs: &[usize], encodings: &[Encoding]) -> TokenIndex {
        let mut builder = TokenIndexBuilder::new(encodings.len());
        for (unit, encoding) in encodings.iter().enumerate().rev() {
            builder.add(unit, encoding);
        }
        builder.finish(docs, unit_docs)
    }

    /// MaxSim computed the slow, obvious way, in f32, with every row centred on the mean of
    /// `all` the index's rows.
    fn reference(query: &[Vec<f32>], doc: &[Vec<f32>], all: &[Vec<f32>]) -> f32 {
        let dim = all[0].len();
        let mean: Vec<f32> = (0..dim)
            .map(|i| all.iter().map(|row| row[i]).sum::<f32>() / all.len() as f32)
            .collect();
        let centred = |row: &Vec<f32>| {
            let v: Vec<f32> = row.iter().zip(&mean).map(|(x, m)| x - m).collect();
            let norm = dot(&v, &v).sqrt();
            v.into_iter().map(|x| x / norm).collect::<Vec<f32>>()
        };
        let doc: Vec<Vec<f32>> = doc.iter().map(centred).collect();
        let best = |q: &Vec<f32>| {
            let q = centred(q);
            doc.iter().map(|d| dot(&q, d)).fold(f32::MIN, f32::max)
        };
        query.iter().map(best).sum::<f32>() / query.len() as f32
    }

    fn rows(dim: usize, count: std::ops::Range<usize>) -> impl Strategy<Value = Vec<Vec<f32>>> {
        prop::collection::vec(
            prop::collection::vec(-1.0f32..1.0, dim)
                .prop_filter_map("zero row", |v| (dot(&v, &v) > 1e-3).then(|| unit(v))),
            count,
        )
    }

    proptest! {
        /// Quantized MaxSim stays within a rounding error of the exact one, whatever the rows;
        /// units of one pair pool their tokens; a pair without tokens scores zero, and a pair
        /// scores the same wherever it stands among the candidates.
        #[test]
        fn quantized_maxsim_matches_exact(
            query in rows(16, 1..5),
            first in rows(16, 1..6),
            second in rows(16, 1..6),
        ) {
            let index = build(
                2,
                &[1, 1],
                &[encoding(&first), encoding(&second)],
            );
            prop_assert_eq!(index.rows(), first.len() + second.len());
            let all: Vec<Vec<f32>> = first.iter().chain(&second).cloned().collect();
            let got = index.maxsim(&query.concat(), &[1, 0, 1]);
            let want = reference(&query, &all, &all);
            prop_assert!((got[0] - want).abs() < 0.02, "{} vs {}", got[0], want);
            prop_assert_eq!(got[0], got[2]);
            prop_assert_eq!(got[1], 0.0);
        }
    }

    #[test]
    fn saved_index_loads_identical_and_damage_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.bin");
        let rows = vec![unit(vec![1.0, 2.0, 3.0]), unit(vec![-1.0, 0.5, 0.0])];
        let index = build(3, &[0, 2], &[encoding(&rows), encoding(&rows[..1])]);
        index.save(&path).unwrap();
        assert_eq!(TokenIndex::load(&path).unwrap(), index);

        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        let error = TokenIndex::load(&path).unwrap_err().to_string();
        assert!(error.contains("rebuild"), "{error}");
        std::fs::write(&path, b"not tokens").unwrap();
        assert!(TokenIndex::load(&path).is_err());
    }
}
