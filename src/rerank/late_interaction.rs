//! Late interaction: every token of the query looks for its most similar token in a pair, and
//! the pair scores the mean of those best similarities (ColBERT's MaxSim). The same is measured
//! against the pair's first unit alone, its question ([`MaxSims`]): a user who restates an FAQ
//! question should find each word in that question, not scattered over a long answer.
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
//! The states come free with the units' embeddings at index time (the same ONNX run). They are
//! the largest part of an index by far (a state per token where retrieval keeps a vector per
//! sentence), so they are stored at two bits per dimension: each dimension, less the model's
//! typical value, is scaled by its typical spread and rounded to the nearest of the four levels
//! that are optimal for a normal distribution (Lloyd–Max), and one gain per token restores its
//! length. That is 96 bytes for e5-small's 384 dimensions plus 2 for the gain (a half-precision
//! float: the row is normalised again after restoring, so the gain only weighs the levels
//! against the model's typical values); what it costs in
//! ranking is in docs/EVALUATION.md. A loaded index maps the file and reads only its
//! candidates' rows.
//!
//! The typical values and spreads (the [`Quantizer`]) belong to the model, not to the corpus:
//! they are measured on a fixed reference text. A pair's codes then depend on nothing but the
//! pair, so a build can take over the rows of unchanged pairs and still write the very file a
//! full build would. The corpus's mean, on which MaxSim centres, is measured on the restored
//! rows of the whole corpus in every build, so it too is what a full build finds.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use ndarray::ArrayView2;

use crate::embed::{centre, dot, sum_in_lanes, Encoding};
use crate::error::{Error, IoContext, Result};

const MAGIC: &[u8; 8] = b"antwTOK6";

/// The two-bit Lloyd–Max quantizer of a unit normal: where the code of a value changes, and
/// what each code restores.
const THRESHOLD: f32 = 0.9816;
const LEVELS: [f32; 4] = [-1.510, -0.4528, 0.4528, 1.510];
/// Dimensions packed into one stored byte.
const DIMS_PER_BYTE: usize = 4;

/// Bytes a stored token takes in a model of `dim` dimensions: its codes and its gain.
pub fn bytes_per_token(dim: usize) -> usize {
    code_bytes(dim) + GAIN_BYTES
}

/// A gain as stored: an IEEE half-precision float, little-endian.
const GAIN_BYTES: usize = 2;

fn stored_gain(gain: f32) -> [u8; GAIN_BYTES] {
    half::f16::from_f32(gain).to_le_bytes()
}

fn read_gain(bytes: &[u8]) -> f32 {
    half::f16::from_le_bytes([bytes[0], bytes[1]]).to_f32()
}

fn code_bytes(dim: usize) -> usize {
    dim.div_ceil(DIMS_PER_BYTE)
}

/// How a model's token state becomes two bits per dimension and back: each dimension's typical
/// value, which a state loses first, and its typical spread around it, both measured once on
/// reference states of the model ([`Quantizer::fit`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Quantizer {
    offset: Vec<f32>,
    spread: Vec<f32>,
    /// `LEVELS` times each dimension's spread: what a code restores, by dimension.
    restored: Vec<[f32; 4]>,
    /// The outer and the inner positive level of each dimension (`restored[d][3]`,
    /// `restored[d][2]`), for [`Quantizer::decode`].
    outer: Vec<f32>,
    inner: Vec<f32>,
    /// Each dimension's spread, squared: what a restored row's length is made of.
    spread_squared: Vec<f32>,
}

impl Quantizer {
    fn new(offset: Vec<f32>, spread: Vec<f32>) -> Quantizer {
        let restored: Vec<[f32; 4]> = spread.iter().map(|&s| LEVELS.map(|l| l * s)).collect();
        Quantizer {
            offset,
            spread_squared: spread.iter().map(|s| s * s).collect(),
            spread,
            outer: restored.iter().map(|r| r[3]).collect(),
            inner: restored.iter().map(|r| r[2]).collect(),
            restored,
        }
    }

    /// The quantizer of the token states in `encodings`: their mean, and each dimension's
    /// spread around it, over the states less the mean scaled to unit length (as
    /// [`Quantizer::encode`] codes them). None without a single state.
    pub fn fit(encodings: &[Encoding]) -> Option<Quantizer> {
        let dim = encodings.iter().map(Encoding::dim).find(|&d| d > 0)?;
        let rows = || encodings.iter().flat_map(Encoding::token_rows);
        let count = rows().count();
        if count == 0 {
            return None;
        }
        let mut sums = vec![0.0f64; dim];
        for row in rows() {
            sums.iter_mut()
                .zip(row)
                .for_each(|(s, &x)| *s += f64::from(x));
        }
        let offset: Vec<f32> = sums.iter().map(|s| (s / count as f64) as f32).collect();
        let mut squares = vec![0.0f64; dim];
        let mut residual = vec![0.0f32; dim];
        for row in rows() {
            residual.copy_from_slice(row);
            centre(&mut residual, &offset);
            for (square, &x) in squares.iter_mut().zip(&residual) {
                *square += f64::from(x).powi(2);
            }
        }
        let spread = squares
            .iter()
            .map(|s| (s / count as f64).sqrt() as f32)
            .collect();
        Some(Quantizer::new(offset, spread))
    }

    pub fn dim(&self) -> usize {
        self.offset.len()
    }

    /// The code bytes of `row` appended to `codes`; returns the gain that makes the restored
    /// row closest to `row` less the offset (least squares). The codes are those of that
    /// residual scaled to unit length, so that every row uses the four levels as fully as the
    /// reference rows did, whatever its length.
    fn encode(&self, row: &[f32], codes: &mut Vec<u8>) -> f32 {
        let norm = (row.iter().zip(&self.offset))
            .map(|(x, o)| (x - o) * (x - o))
            .sum::<f32>()
            .sqrt();
        let scale = if norm > 0.0 { 1.0 / norm } else { 0.0 };
        let (mut cross, mut square) = (0.0f32, 0.0f32);
        let dims = self.offset.iter().zip(&self.spread).zip(&self.restored);
        let mut byte = 0u8;
        for (i, (&x, ((&offset, &spread), restored))) in row.iter().zip(dims).enumerate() {
            let x = (x - offset) * scale;
            let z = if spread > 0.0 { x / spread } else { 0.0 };
            let code = u8::from(z >= -THRESHOLD) + u8::from(z >= 0.0) + u8::from(z >= THRESHOLD);
            let slot = i % DIMS_PER_BYTE;
            byte |= code << (2 * slot);
            if slot == DIMS_PER_BYTE - 1 || i + 1 == row.len() {
                codes.push(byte);
                byte = 0;
            }
            let y = restored[usize::from(code)];
            cross += x * y;
            square += y * y;
        }
        if square > 0.0 {
            norm * cross / square
        } else {
            0.0
        }
    }

    /// Restores into `row` what [`Quantizer::encode`] stored, offset and all.
    ///
    /// The codes are spread to a byte a dimension first, so that the restoring loop runs over
    /// equal-length arrays and picks each level with bit operations: the branch a code took
    /// before mispredicted, and made restoring, not the products, most of MaxSim's time. The
    /// levels are symmetric (`LEVELS[3 - c] == -LEVELS[c]`), so a code picks the outer or inner
    /// level of its dimension and a sign, which restores exactly `restored[d][c]`.
    fn decode(&self, gain: f32, codes: &[u8], row: &mut [f32], spread_codes: &mut Vec<u8>) {
        spread_codes.resize(codes.len() * DIMS_PER_BYTE, 0);
        for (four, &byte) in spread_codes.chunks_exact_mut(DIMS_PER_BYTE).zip(codes) {
            four.copy_from_slice(&[byte & 3, (byte >> 2) & 3, (byte >> 4) & 3, byte >> 6]);
        }
        let n = row.len();
        let (codes, outer, inner, offset) = (
            &spread_codes[..n],
            &self.outer[..n],
            &self.inner[..n],
            &self.offset[..n],
        );
        for d in 0..n {
            let code = u32::from(codes[d]);
            // Codes 0 and 3 take the outer level, 1 and 2 the inner; 0 and 1 are negative.
            // In bits, without a branch: the codes are as good as random to a predictor.
            let outer_mask = ((code ^ (code >> 1)) & 1).wrapping_sub(1);
            let magnitude = (outer[d].to_bits() & outer_mask) | (inner[d].to_bits() & !outer_mask);
            let sign = ((code >> 1) ^ 1) << 31;
            row[d] = offset[d] + gain * f32::from_bits(magnitude ^ sign);
        }
    }

    fn write(&self, out: &mut Vec<u8>) {
        for &x in self.offset.iter().chain(&self.spread) {
            out.extend_from_slice(&x.to_le_bytes());
        }
    }
}

/// The token states of every pair, quantized (see the module docs).
#[derive(Debug)]
pub struct TokenIndex {
    dim: usize,
    docs: usize,
    rows: usize,
    quantizer: Quantizer,
    /// The corpus's mean token state, as restored: every state is centred on it before MaxSim.
    mean: Vec<f32>,
    /// The file as [`TokenIndexBuilder::finish`] wrote it, mapped.
    bytes: memmap2::Mmap,
    layout: Layout,
}

impl PartialEq for TokenIndex {
    fn eq(&self, other: &TokenIndex) -> bool {
        *self.bytes == *other.bytes
    }
}

/// The layout of a token file: magic, `dim`, `docs`, `rows` (u64); the quantizer's offsets and
/// spreads and the corpus's mean (f32 × dim each); the offsets (u64 × docs + 1: rows of pair
/// `d` are `offsets[d]..offsets[d + 1]`); the rows of each pair's first unit, its question when
/// it has one (u32 × docs); the codes ([`code_bytes`] a row); the gains ([`GAIN_BYTES`] a row).
/// All little-endian.
#[derive(Debug, Clone, Copy)]
struct Layout {
    offsets_at: usize,
    leads_at: usize,
    codes_at: usize,
    gains_at: usize,
    len: usize,
}

impl Layout {
    fn of(dim: usize, docs: usize, rows: usize) -> Option<Layout> {
        let offsets_at = (MAGIC.len() + 24).checked_add(dim.checked_mul(12)?)?;
        let leads_at = offsets_at.checked_add(docs.checked_add(1)?.checked_mul(8)?)?;
        let codes_at = leads_at.checked_add(docs.checked_mul(4)?)?;
        let gains_at = codes_at.checked_add(rows.checked_mul(code_bytes(dim))?)?;
        let len = gains_at.checked_add(rows.checked_mul(GAIN_BYTES)?)?;
        Some(Layout {
            offsets_at,
            leads_at,
            codes_at,
            gains_at,
            len,
        })
    }
}

/// Collects the units' token states as they are embedded, in any order, and writes the token
/// file without ever holding the corpus's states in memory: each unit's rows are coded at once
/// and go to a spill file beside the index, from which [`TokenIndexBuilder::finish`] copies
/// them pair by pair.
pub struct TokenIndexBuilder {
    quantizer: Quantizer,
    rows: usize,
    spill_path: PathBuf,
    spill: BufWriter<File>,
    spilled: u64,
    /// Per unit embedded: where its rows start in the spill, and how many there are.
    units: Vec<Option<(u64, usize)>>,
    row: Vec<u8>,
}

impl TokenIndexBuilder {
    /// A builder for `units` units coded by `quantizer`, whose spill file is `spill_path`
    /// (removed by `finish`, or with the staging directory it lives in).
    pub fn new(quantizer: Quantizer, spill_path: &Path, units: usize) -> Result<TokenIndexBuilder> {
        let file = File::create(spill_path)
            .context(|| format!("cannot create {}", spill_path.display()))?;
        Ok(TokenIndexBuilder {
            quantizer,
            rows: 0,
            spill_path: spill_path.to_path_buf(),
            spill: BufWriter::with_capacity(1 << 20, file),
            spilled: 0,
            units: vec![None; units],
            row: Vec::new(),
        })
    }

    /// Codes the token states of `unit` and spills them.
    pub fn add(&mut self, unit: usize, encoding: &Encoding) -> Result<()> {
        let dim = self.quantizer.dim();
        if encoding.dim() != dim && !encoding.tokens.is_empty() {
            return Err(Error::Internal(format!(
                "token states of {} dimensions for a quantizer of {dim}",
                encoding.dim()
            )));
        }
        let start = self.spilled;
        let mut rows = 0;
        for row in encoding.token_rows() {
            self.row.clear();
            let gain = self.quantizer.encode(row, &mut self.row);
            self.row.extend_from_slice(&stored_gain(gain));
            self.spill
                .write_all(&self.row)
                .context(|| format!("cannot write {}", self.spill_path.display()))?;
            self.spilled += self.row.len() as u64;
            rows += 1;
        }
        self.rows += rows;
        self.units[unit] = Some((start, rows));
        Ok(())
    }

    /// Token rows added so far: the states this build embedded.
    pub fn rows_added(&self) -> usize {
        self.rows
    }

    /// Writes the token file at `path` and opens it. `unit_docs` gives the pair of each unit
    /// and `reused` for each pair its ordinal in `previous` if its rows are taken from there
    /// (which must have been coded by the same quantizer); every other pair's rows are the
    /// ones added. The corpus's mean is measured on the restored rows, pair by pair.
    pub fn finish(
        mut self,
        path: &Path,
        unit_docs: &[usize],
        reused: &[Option<usize>],
        previous: Option<&TokenIndex>,
    ) -> Result<TokenIndex> {
        let spill_failed = || format!("cannot read {}", self.spill_path.display());
        self.spill.flush().context(spill_failed)?;
        if previous.is_some_and(|p| p.quantizer != self.quantizer) {
            return Err(Error::Internal(
                "reused token states were coded by another quantizer".into(),
            ));
        }
        let dim = self.quantizer.dim();
        let row_bytes = bytes_per_token(dim);
        let docs = reused.len();
        let mut units_of: Vec<Vec<usize>> = vec![Vec::new(); docs];
        for (unit, &doc) in unit_docs.iter().enumerate() {
            units_of[doc].push(unit);
        }
        let reused_from = |doc: usize| reused[doc].zip(previous);
        let mut offsets = Vec::with_capacity(docs + 1);
        offsets.push(0usize);
        let mut leads = Vec::with_capacity(docs);
        for (doc, units) in units_of.iter().enumerate() {
            let rows_of = |u: &usize| self.units[*u].map_or(0, |(_, rows)| rows);
            let (rows, lead) = match reused_from(doc) {
                Some((old, previous)) => {
                    let tokens = previous.doc(old);
                    (tokens.rows(), tokens.lead)
                }
                None => (
                    units.iter().map(rows_of).sum(),
                    units.first().map_or(0, rows_of),
                ),
            };
            offsets.push(offsets[doc] + rows);
            leads.push(lead);
        }
        let rows = offsets[docs];
        let layout = Layout::of(dim, docs, rows)
            .ok_or_else(|| Error::Internal("token file too large".into()))?;

        // Codes in place, gains gathered behind them; the header last, once the mean is known.
        let write_failed = || format!("cannot write {}", path.display());
        let file = File::create(path).context(write_failed)?;
        file.set_len(layout.codes_at as u64).context(write_failed)?;
        let mut out = BufWriter::with_capacity(1 << 20, &file);
        std::io::Seek::seek(&mut out, std::io::SeekFrom::Start(layout.codes_at as u64))
            .context(write_failed)?;
        let spill = File::open(&self.spill_path).context(spill_failed)?;
        let mut gains = Vec::with_capacity(rows * GAIN_BYTES);
        let mut sums = vec![0.0f64; dim];
        let mut restored = vec![0.0f32; dim];
        let mut spread_codes = Vec::with_capacity(dim);
        let mut add_rows = |stored: &[u8], gains_of: &[u8], sums: &mut Vec<f64>| {
            for (codes, gain) in stored
                .chunks_exact(code_bytes(dim))
                .zip(gains_of.chunks_exact(GAIN_BYTES))
            {
                self.quantizer
                    .decode(read_gain(gain), codes, &mut restored, &mut spread_codes);
                sums.iter_mut()
                    .zip(&restored)
                    .for_each(|(s, &x)| *s += f64::from(x));
            }
        };
        let (mut spilled, mut codes, mut unit_gains) = (Vec::new(), Vec::new(), Vec::new());
        for (doc, units) in units_of.iter().enumerate() {
            codes.clear();
            unit_gains.clear();
            if let Some((old, previous)) = reused_from(doc) {
                let tokens = previous.doc(old);
                codes.extend_from_slice(tokens.codes);
                unit_gains.extend_from_slice(tokens.gains);
            } else {
                for &unit in units {
                    let Some((start, unit_rows)) = self.units[unit] else {
                        continue;
                    };
                    spilled.resize(unit_rows * row_bytes, 0);
                    spill
                        .read_exact_at(&mut spilled, start)
                        .context(spill_failed)?;
                    for row in spilled.chunks_exact(row_bytes) {
                        codes.extend_from_slice(&row[..code_bytes(dim)]);
                        unit_gains.extend_from_slice(&row[code_bytes(dim)..]);
                    }
                }
            }
            add_rows(&codes, &unit_gains, &mut sums);
            out.write_all(&codes).context(write_failed)?;
            gains.extend_from_slice(&unit_gains);
        }
        out.write_all(&gains).context(write_failed)?;
        out.flush().context(write_failed)?;
        drop(out);

        let mean: Vec<f32> = sums
            .iter()
            .map(|s| (s / rows.max(1) as f64) as f32)
            .collect();
        let mut header = Vec::with_capacity(layout.codes_at);
        header.extend_from_slice(MAGIC);
        for n in [dim, docs, rows] {
            header.extend_from_slice(&(n as u64).to_le_bytes());
        }
        self.quantizer.write(&mut header);
        for &x in &mean {
            header.extend_from_slice(&x.to_le_bytes());
        }
        for &o in &offsets {
            header.extend_from_slice(&(o as u64).to_le_bytes());
        }
        for &lead in &leads {
            let lead = u32::try_from(lead)
                .map_err(|_| Error::Internal(format!("a unit of {lead} token rows")))?;
            header.extend_from_slice(&lead.to_le_bytes());
        }
        file.write_all_at(&header, 0).context(write_failed)?;
        file.sync_all().context(write_failed)?;
        drop(spill);
        std::fs::remove_file(&self.spill_path)
            .context(|| format!("cannot remove {}", self.spill_path.display()))?;
        TokenIndex::load(path)
    }
}

impl TokenIndex {
    pub fn docs(&self) -> usize {
        self.docs
    }

    /// The corpus's mean token state, on which every state is centred before MaxSim.
    pub fn mean(&self) -> &[f32] {
        &self.mean
    }

    /// How the rows were coded: a build that reuses rows codes its new ones the same way.
    pub fn quantizer(&self) -> &Quantizer {
        &self.quantizer
    }

    /// Token rows stored, over all pairs.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Bytes the index takes on disk.
    pub fn size(&self) -> usize {
        self.bytes.len()
    }

    fn offset(&self, doc: usize) -> usize {
        let at = self.layout.offsets_at + 8 * doc;
        let bytes: [u8; 8] = self.bytes[at..at + 8].try_into().expect("eight bytes");
        u64::from_le_bytes(bytes) as usize
    }

    fn lead(&self, doc: usize) -> usize {
        let at = self.layout.leads_at + 4 * doc;
        let bytes: [u8; 4] = self.bytes[at..at + 4].try_into().expect("four bytes");
        u32::from_le_bytes(bytes) as usize
    }

    /// A query's token states (unit-length rows of the index's dimension) made ready to meet
    /// pairs' states: centred on the corpus's mean, and folded into the quantizer's terms so
    /// that they meet a pair's codes without restoring its rows ([`DocTokens::maxsims_in`]).
    pub fn query(&self, query_tokens: &[f32]) -> QueryTokens {
        let dim = self.dim;
        let rows = query_tokens.len().checked_div(dim).unwrap_or(0);
        let mut centred = query_tokens[..rows * dim].to_vec();
        for row in centred.chunks_exact_mut(dim) {
            centre(row, &self.mean);
        }
        let quantizer = &self.quantizer;
        let offset: Vec<f32> = (quantizer.offset.iter().zip(&self.mean))
            .map(|(o, m)| o - m)
            .collect();
        // Each centred query row, then the offset, scaled by the spreads.
        let weights: Vec<f32> = (centred.chunks_exact(dim).chain([&offset[..]]))
            .flat_map(|row| row.iter().zip(&quantizer.spread).map(|(x, s)| x * s))
            .collect();
        QueryTokens {
            dim,
            rows,
            against_offset: centred.chunks_exact(dim).map(|q| dot(q, &offset)).collect(),
            offset_squared: dot(&offset, &offset),
            weights,
        }
    }

    /// The stored token states of pair `doc`.
    pub fn doc(&self, doc: usize) -> DocTokens<'_> {
        let span = self.offset(doc)..self.offset(doc + 1);
        let (codes_at, gains_at) = (self.layout.codes_at, self.layout.gains_at);
        let row_bytes = code_bytes(self.dim);
        DocTokens {
            quantizer: &self.quantizer,
            lead: self.lead(doc),
            gains: &self.bytes
                [gains_at + GAIN_BYTES * span.start..gains_at + GAIN_BYTES * span.end],
            codes: &self.bytes[codes_at + row_bytes * span.start..codes_at + row_bytes * span.end],
        }
    }

    /// The rows of pair `doc` as MaxSim meets them, one after another, into `buffer`: restored,
    /// centred on the corpus's mean, of unit length. MaxSim itself never restores a row
    /// ([`DocTokens::maxsims_in`]); this is the definition its tests check it against.
    #[cfg(test)]
    fn restore_into(&self, doc: usize, buffer: &mut Vec<f32>) {
        let pair = self.doc(doc);
        let dim = self.dim;
        buffer.resize(pair.rows() * dim, 0.0);
        let mut spread_codes = Vec::with_capacity(dim);
        for ((row, gain), codes) in buffer
            .chunks_exact_mut(dim)
            .zip(pair.gains.chunks_exact(GAIN_BYTES))
            .zip(pair.codes.chunks_exact(code_bytes(dim)))
        {
            (self.quantizer).decode(read_gain(gain), codes, row, &mut spread_codes);
            row.iter_mut().zip(&self.mean).for_each(|(x, m)| *x -= m);
            // `normalize` adds the squares one after another; `dot` in eight lanes.
            let norm = dot(row, row).sqrt();
            if norm > 0.0 {
                let inverse = norm.recip();
                row.iter_mut().for_each(|x| *x *= inverse);
            }
        }
    }

    /// MaxSim of the query's token states against each pair of `docs`.
    pub fn maxsim(&self, query_tokens: &[f32], docs: &[usize]) -> Vec<f32> {
        let query = self.query(query_tokens);
        let mut buffer = Vec::new();
        docs.iter()
            .map(|&doc| self.doc(doc).maxsim_in(&query, &mut buffer))
            .collect()
    }

    /// Maps a token file, checking every length against the header.
    pub fn load(path: &Path) -> Result<TokenIndex> {
        let file = File::open(path).map_err(|e| damaged(path, &e.to_string()))?;
        // SAFETY: an index generation is written once into a staging directory and never
        // changed after it is switched live (a rebuild writes a new generation), so the
        // mapped file does not change under the map.
        let map =
            unsafe { memmap2::Mmap::map(&file) }.map_err(|e| damaged(path, &e.to_string()))?;
        Self::from_map(path, map)
    }

    fn from_map(path: &Path, bytes: memmap2::Mmap) -> Result<TokenIndex> {
        let mut reader = Reader(&bytes);
        if reader.take(MAGIC.len()) != Some(MAGIC.as_slice()) {
            return Err(damaged(path, "not a token file of this version"));
        }
        let mut header = [0usize; 3];
        for n in &mut header {
            *n = reader.u64().ok_or_else(|| damaged(path, "short header"))?;
        }
        let [dim, docs, rows] = header;
        let layout = Layout::of(dim, docs, rows)
            .filter(|l| l.len == bytes.len() && (dim > 0 || rows == 0))
            .ok_or_else(|| damaged(path, "its size does not match its header"))?;
        let mut vector = || -> Vec<f32> { (0..dim).filter_map(|_| reader.f32()).collect() };
        let (offset, spread, mean) = (vector(), vector(), vector());
        let finite = |v: &[f32]| v.iter().all(|x| x.is_finite());
        if !(finite(&offset) && finite(&spread) && finite(&mean)) || spread.iter().any(|&s| s < 0.0)
        {
            return Err(damaged(path, "its statistics are not finite"));
        }
        let mut offsets = Vec::with_capacity(docs + 1);
        for doc in 0..=docs {
            let offset = reader.u64().ok_or_else(|| damaged(path, "short offsets"))?;
            let in_order = match offsets.last() {
                None => offset == 0,
                Some(&previous) => offset >= previous,
            };
            if !in_order || offset > rows || (doc == docs && offset != rows) {
                return Err(damaged(path, "its offsets are out of order"));
            }
            offsets.push(offset);
        }
        for pair in offsets.windows(2) {
            let lead = reader.u32().ok_or_else(|| damaged(path, "short leads"))?;
            if lead as usize > pair[1] - pair[0] {
                return Err(damaged(path, "a pair's first unit is longer than the pair"));
            }
        }
        Ok(TokenIndex {
            dim,
            docs,
            rows,
            quantizer: Quantizer::new(offset, spread),
            mean,
            bytes,
            layout,
        })
    }
}

fn damaged(path: &Path, why: &str) -> Error {
    Error::index(
        path,
        format!("token states are damaged ({why}); rebuild with `antwort index`"),
    )
}

/// A query's token states, centred on an index's mean ([`TokenIndex::query`]), in the terms in
/// which they meet a stored row.
///
/// A stored row restores to `offset + gain × spread ⊙ level`, one of four levels a dimension;
/// centred on the corpus's mean `m` it is `x = a + gain × spread ⊙ level` with `a = offset - m`.
/// A centred query token `q` meets it as `(q·a + gain × (q ⊙ spread)·level) / |x|`, and
/// `|x|² = |a|² + 2 gain (a ⊙ spread)·level + gain² (spread² ⊙ level)·level`. So the products
/// run over the levels as stored, against weights computed once per query, and no row is
/// restored, centred or normalised on the way.
#[derive(Debug, Clone)]
pub struct QueryTokens {
    dim: usize,
    rows: usize,
    /// `q ⊙ spread` for each query token, then `a ⊙ spread`: `rows + 1` rows of `dim`.
    weights: Vec<f32>,
    /// `q·a` for each query token.
    against_offset: Vec<f32>,
    /// `|a|²`.
    offset_squared: f32,
}

/// One pair's stored token states, quantized: what late interaction reads of a candidate.
#[derive(Debug, Clone, Copy)]
pub struct DocTokens<'a> {
    quantizer: &'a Quantizer,
    /// Rows of the pair's first unit, its question when it has one: the first rows.
    lead: usize,
    /// [`GAIN_BYTES`] per row.
    gains: &'a [u8],
    codes: &'a [u8],
}

impl DocTokens<'_> {
    /// Token rows stored for the pair.
    pub fn rows(&self) -> usize {
        self.gains.len() / GAIN_BYTES
    }

    /// MaxSim: the mean over the query's tokens of their best cosine with one of the pair's
    /// tokens. Zero when either side has no tokens.
    ///
    /// See [`DocTokens::maxsims_in`] for how.
    pub fn maxsim(&self, query: &QueryTokens) -> f32 {
        self.maxsim_in(query, &mut Vec::new())
    }

    /// [`DocTokens::maxsim`] restoring the rows into `buffer`: scoring many candidates through
    /// one buffer keeps it in cache instead of asking the allocator for fresh pages each time.
    pub fn maxsim_in(&self, query: &QueryTokens, buffer: &mut Vec<f32>) -> f32 {
        self.maxsims_in(query, buffer).pair
    }

    /// MaxSim against the whole pair and against its first unit alone, from one product of the
    /// query's rows with the pair's.
    ///
    /// The pair's codes are spread into their levels (one table look-up a byte) and meet the
    /// query's weights in a matrix product, which `matrixmultiply` runs with the CPU's widest
    /// vector instructions; each row's length and centring come from the same product
    /// ([`QueryTokens`]). Restoring, centring and normalising every row first took longer than
    /// the product itself.
    pub fn maxsims_in(&self, query: &QueryTokens, buffer: &mut Vec<f32>) -> MaxSims {
        let dim = self.quantizer.dim();
        let rows = self.rows();
        if query.rows == 0 || rows == 0 || query.dim != dim {
            return MaxSims::default();
        }
        let weights = ArrayView2::from_shape((query.rows + 1, dim), &query.weights[..])
            .expect("query rows + 1 × dim");
        let mut best = vec![f32::NEG_INFINITY; query.rows];
        let mut lead_best = None;
        let row_bytes = code_bytes(dim);
        let blocks = (self.codes.chunks(BLOCK_ROWS * row_bytes))
            .zip(self.gains.chunks(BLOCK_ROWS * GAIN_BYTES));
        for (block, (codes, gains)) in blocks.enumerate() {
            let block_rows = gains.len() / GAIN_BYTES;
            spread_levels(codes, dim, buffer);
            let levels =
                ArrayView2::from_shape((block_rows, dim), &buffer[..]).expect("rows × dim");
            let products = levels.dot(&weights.t());
            let products = products.as_slice().expect("a fresh product is contiguous");
            for (row, ((levels, products), gain)) in (buffer.chunks_exact(dim))
                .zip(products.chunks_exact(query.rows + 1))
                .zip(gains.chunks_exact(GAIN_BYTES))
                .enumerate()
            {
                if block * BLOCK_ROWS + row == self.lead {
                    lead_best = Some(best.clone());
                }
                let gain = read_gain(gain);
                let (products, against_offset) = products.split_at(query.rows);
                let row_squared =
                    sum_in_lanes(levels, &self.quantizer.spread_squared, |x, s| s * x * x);
                let length_squared = query.offset_squared
                    + 2.0 * gain * against_offset[0]
                    + gain * gain * row_squared;
                // A row that restores to the mean itself is no direction: it meets every token
                // at 0.
                let inverse = if length_squared > 0.0 {
                    length_squared.sqrt().recip()
                } else {
                    0.0
                };
                for ((best, &product), &q_offset) in
                    best.iter_mut().zip(products).zip(&query.against_offset)
                {
                    *best = best.max((q_offset + gain * product) * inverse);
                }
            }
        }
        let mean = |best: &[f32]| best.iter().sum::<f32>() / query.rows as f32;
        MaxSims {
            pair: mean(&best),
            lead: match self.lead {
                0 => 0.0,
                _ => mean(lead_best.as_deref().unwrap_or(&best)),
            },
        }
    }
}

/// Rows spread into levels at a time: the buffer stays the size of one block however long the
/// pair, and a block is still enough rows for the matrix product to run at speed.
const BLOCK_ROWS: usize = 64;

/// The level of each code of `codes` (rows of [`code_bytes`] bytes for `dim` dimensions), one
/// `f32` a dimension, into `buffer`.
fn spread_levels(codes: &[u8], dim: usize, buffer: &mut Vec<f32>) {
    let row_bytes = code_bytes(dim);
    let rows = codes.len() / row_bytes;
    buffer.resize(rows * dim, 0.0);
    for (row, codes) in buffer
        .chunks_exact_mut(dim)
        .zip(codes.chunks_exact(row_bytes))
    {
        let mut levels = row.chunks_exact_mut(DIMS_PER_BYTE);
        for (four, &byte) in levels.by_ref().zip(codes) {
            four.copy_from_slice(&LEVELS_OF_BYTE[usize::from(byte)]);
        }
        let tail = levels.into_remainder();
        if let Some(&byte) = codes.get(dim / DIMS_PER_BYTE) {
            let n = tail.len();
            tail.copy_from_slice(&LEVELS_OF_BYTE[usize::from(byte)][..n]);
        }
    }
}

/// The four levels a code byte stands for, by byte: the first dimension in the lowest bits.
const LEVELS_OF_BYTE: [[f32; DIMS_PER_BYTE]; 256] = {
    let mut table = [[0.0; DIMS_PER_BYTE]; 256];
    let mut byte = 0;
    while byte < 256 {
        let mut slot = 0;
        while slot < DIMS_PER_BYTE {
            table[byte][slot] = LEVELS[(byte >> (2 * slot)) & 3];
            slot += 1;
        }
        byte += 1;
    }
    table
};

/// A query's MaxSim against one pair's token states.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct MaxSims {
    /// Against every row of the pair.
    pub pair: f32,
    /// Against the rows of its first unit alone: its question when it has one; 0 for a pair
    /// stored without rows.
    pub lead: f32,
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

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }

    fn f32(&mut self) -> Option<f32> {
        Some(f32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

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

    /// Rows of `dim` dimensions drawn around a common offset, as a model's token states are
    /// (they share a large mean direction), each of unit length.
    fn model_like_rows(rng: &mut SmallRng, count: usize, dim: usize) -> Vec<Vec<f32>> {
        let offset: Vec<f32> = (0..dim).map(|i| (i as f32 * 0.37).sin()).collect();
        (0..count)
            .map(|_| {
                let spread = |i: usize| 0.5 + (i % 7) as f32 * 0.3;
                unit(
                    (0..dim)
                        .map(|i| offset[i] + spread(i) * normal(rng))
                        .collect(),
                )
            })
            .collect()
    }

    /// A standard normal draw (Box–Muller).
    fn normal(rng: &mut SmallRng) -> f32 {
        let (u, v): (f32, f32) = (rng.random_range(1e-7..1.0), rng.random());
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }

    /// The index of the pairs of `unit_docs` over `encodings`, added out of order as a build
    /// adds them (length-sorted), written into `dir`; units whose pair `reused` names are
    /// taken from `previous` instead.
    fn build_reusing(
        dir: &Path,
        name: &str,
        quantizer: &Quantizer,
        unit_docs: &[usize],
        encodings: &[Option<&Encoding>],
        reused: &[Option<usize>],
        previous: Option<&TokenIndex>,
    ) -> TokenIndex {
        let spill = dir.join(format!("{name}.spill"));
        let mut builder =
            TokenIndexBuilder::new(quantizer.clone(), &spill, encodings.len()).unwrap();
        for (unit, encoding) in encodings.iter().enumerate().rev() {
            if let Some(encoding) = encoding {
                builder.add(unit, encoding).unwrap();
            }
        }
        let index = builder
            .finish(&dir.join(name), unit_docs, reused, previous)
            .unwrap();
        assert!(!spill.exists(), "the spill file is removed");
        index
    }

    /// The index of `encodings`, coded by their own quantizer.
    fn build(dir: &Path, docs: usize, unit_docs: &[usize], encodings: &[Encoding]) -> TokenIndex {
        let quantizer = Quantizer::fit(encodings).unwrap();
        let encodings: Vec<Option<&Encoding>> = encodings.iter().map(Some).collect();
        let reused = vec![None; docs];
        build_reusing(
            dir,
            "tokens.bin",
            &quantizer,
            unit_docs,
            &encodings,
            &reused,
            None,
        )
    }

    /// MaxSim computed the slow, obvious way, in f32, with every row centred on `mean`.
    fn reference(query: &[Vec<f32>], doc: &[Vec<f32>], mean: &[f32]) -> f32 {
        let centred = |row: &Vec<f32>| {
            let v: Vec<f32> = row.iter().zip(mean).map(|(x, m)| x - m).collect();
            unit(v)
        };
        let doc: Vec<Vec<f32>> = doc.iter().map(centred).collect();
        let best = |q: &Vec<f32>| {
            let q = centred(q);
            doc.iter().map(|d| dot(&q, d)).fold(f32::MIN, f32::max)
        };
        query.iter().map(best).sum::<f32>() / query.len() as f32
    }

    fn mean_of(rows: &[Vec<f32>]) -> Vec<f32> {
        (0..rows[0].len())
            .map(|i| rows.iter().map(|row| row[i]).sum::<f32>() / rows.len() as f32)
            .collect()
    }

    /// Two bits a dimension keep the direction of a model-sized state: the restored row is
    /// within the distortion the Lloyd–Max quantizer promises for a normal (a cosine of
    /// about 0.94 on average), and the file takes [`bytes_per_token`] a row.
    /// The branch-free restore gives, bit for bit, what each code's level of its dimension is
    /// (`offset + gain × restored[d][code]`), for every code in every slot of a byte, and for
    /// a width that leaves the last byte part empty.
    #[test]
    fn decoding_restores_each_codes_level_exactly() {
        let mut rng = SmallRng::seed_from_u64(3);
        for dim in [384, 10] {
            let offset: Vec<f32> = (0..dim).map(|_| normal(&mut rng)).collect();
            let spread: Vec<f32> = (0..dim).map(|_| rng.random_range(0.01..2.0)).collect();
            let quantizer = Quantizer::new(offset.clone(), spread);
            let mut row = vec![0.0f32; dim];
            let mut spread_codes = Vec::new();
            for byte in 0..=255u8 {
                let codes = vec![byte; code_bytes(dim)];
                let gain = rng.random_range(0.1..3.0f32);
                quantizer.decode(gain, &codes, &mut row, &mut spread_codes);
                for (d, &x) in row.iter().enumerate() {
                    let code = (byte >> (2 * (d % DIMS_PER_BYTE))) & 3;
                    let expected = offset[d] + gain * quantizer.restored[d][usize::from(code)];
                    assert_eq!(x.to_bits(), expected.to_bits(), "dim {d} code {code}");
                }
            }
        }
    }

    #[test]
    fn restored_rows_keep_their_direction() {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = SmallRng::seed_from_u64(7);
        let rows = model_like_rows(&mut rng, 400, 384);
        let encodings: Vec<Encoding> = rows.chunks(40).map(encoding).collect();
        let unit_docs: Vec<usize> = (0..encodings.len()).collect();
        let index = build(dir.path(), encodings.len(), &unit_docs, &encodings);
        assert_eq!(index.rows(), 400);
        let header = MAGIC.len() + 24 + 384 * 12 + (encodings.len() + 1) * 8 + encodings.len() * 4;
        assert_eq!(index.size(), header + 400 * bytes_per_token(384));
        assert_eq!(bytes_per_token(384), 98);

        let mean = mean_of(&rows);
        let mut restored = Vec::new();
        let (mut worst, mut sum) = (f32::MAX, 0.0);
        for (doc, chunk) in rows.chunks(40).enumerate() {
            index.restore_into(doc, &mut restored);
            for (original, restored) in chunk.iter().zip(restored.chunks_exact(384)) {
                let mut centred = original.clone();
                centre(&mut centred, &mean);
                let cosine = dot(&centred, restored) / dot(restored, restored).sqrt();
                worst = worst.min(cosine);
                sum += cosine;
            }
        }
        assert!(sum / 400.0 > 0.93, "mean restored cosine {}", sum / 400.0);
        assert!(worst > 0.9, "worst restored cosine {worst}");
    }

    /// MaxSim over two-bit rows ranks a pair whose tokens the query shares first, well clear
    /// of the rest, and stays near the exact MaxSim for every pair: a matching token's cosine
    /// loses about the quantizer's distortion (its restored row is shorter by the cosine), the
    /// others' hardly move.
    #[test]
    fn quantized_maxsim_ranks_as_exact() {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = SmallRng::seed_from_u64(11);
        let rows = model_like_rows(&mut rng, 600, 384);
        let encodings: Vec<Encoding> = rows.chunks(20).map(encoding).collect();
        let unit_docs: Vec<usize> = (0..encodings.len()).collect();
        let index = build(dir.path(), encodings.len(), &unit_docs, &encodings);
        let mean = mean_of(&rows);
        let candidates: Vec<usize> = (0..encodings.len()).collect();
        for doc in [0, 7, 29] {
            // A query whose tokens are noisy copies of some of the pair's.
            let query: Vec<Vec<f32>> = rows[doc * 20..doc * 20 + 5]
                .iter()
                .map(|row| unit(row.iter().map(|x| x + 0.02 * normal(&mut rng)).collect()))
                .collect();
            let got = index.maxsim(&query.concat(), &candidates);
            let best_other = (got.iter().enumerate())
                .filter(|&(other, _)| other != doc)
                .map(|(_, &score)| score)
                .fold(f32::MIN, f32::max);
            assert!(
                got[doc] > best_other + 0.3,
                "pair {doc}: {} vs {best_other}",
                got[doc]
            );
            for (other, &score) in got.iter().enumerate() {
                let want = reference(&query, &rows[other * 20..(other + 1) * 20], &mean);
                assert!(
                    (score - want).abs() < 0.15,
                    "pair {other}: {score} vs {want}"
                );
            }
        }
    }

    /// A pair's lead is its first unit: MaxSim against it reads those rows alone, and a query
    /// that matches another unit of the pair scores high against the pair but not its lead.
    #[test]
    fn the_lead_is_the_pairs_first_unit() {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = SmallRng::seed_from_u64(5);
        let rows = model_like_rows(&mut rng, 60, 384);
        // Pair 0: a unit of 8 rows, then one of 22; pair 1: one unit of 30.
        let encodings = [&rows[..8], &rows[8..30], &rows[30..]].map(encoding);
        let index = build(dir.path(), 2, &[0, 0, 1], &encodings);
        assert_eq!((index.doc(0).lead, index.doc(1).lead), (8, 30));
        let query: Vec<Vec<f32>> = rows[10..14]
            .iter()
            .map(|row| unit(row.iter().map(|x| x + 0.02 * normal(&mut rng)).collect()))
            .collect();
        let mean = mean_of(&rows);
        let got = index
            .doc(0)
            .maxsims_in(&index.query(&query.concat()), &mut Vec::new());
        assert!((got.pair - reference(&query, &rows[..30], &mean)).abs() < 0.15);
        assert!((got.lead - reference(&query, &rows[..8], &mean)).abs() < 0.15);
        assert!(got.pair > got.lead + 0.3, "{got:?}");
    }

    /// MaxSim over the codes, with centring and length folded into the query's weights, is
    /// MaxSim over the restored rows: for dimensions that do not fill a byte or a lane, and for
    /// pairs longer than a block whose first unit ends inside a later block.
    #[test]
    fn maxsim_over_codes_is_maxsim_over_restored_rows() {
        for (dim, units) in [(384, [70, 90]), (18, [3, 200]), (5, [130, 1])] {
            let dir = tempfile::tempdir().unwrap();
            let mut rng = SmallRng::seed_from_u64(dim as u64);
            let rows = model_like_rows(&mut rng, units[0] + units[1], dim);
            let encodings = [&rows[..units[0]], &rows[units[0]..]].map(encoding);
            let index = build(dir.path(), 1, &[0, 0], &encodings);
            let query: Vec<Vec<f32>> = model_like_rows(&mut rng, 6, dim);
            let got = index
                .doc(0)
                .maxsims_in(&index.query(&query.concat()), &mut Vec::new());

            let mut restored = Vec::new();
            index.restore_into(0, &mut restored);
            let centred: Vec<Vec<f32>> = (query.iter())
                .map(|q| {
                    let mut q = q.clone();
                    centre(&mut q, index.mean());
                    q
                })
                .collect();
            let over = |rows: usize| {
                let best = |q: &Vec<f32>| {
                    (restored.chunks_exact(dim).take(rows))
                        .map(|row| dot(q, row))
                        .fold(f32::NEG_INFINITY, f32::max)
                };
                centred.iter().map(best).sum::<f32>() / centred.len() as f32
            };
            assert!((got.pair - over(usize::MAX)).abs() < 1e-5, "{dim}: {got:?}");
            assert!((got.lead - over(units[0])).abs() < 1e-5, "{dim}: {got:?}");
        }
    }

    proptest! {
        /// Units of one pair pool their tokens, a pair without tokens scores zero, and a pair
        /// scores the same wherever it stands among the candidates.
        #[test]
        fn pairs_pool_their_units_and_score_alike_anywhere(
            query in rows(16, 1..5),
            first in rows(16, 1..6),
            second in rows(16, 1..6),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let index = build(dir.path(), 2, &[1, 1], &[encoding(&first), encoding(&second)]);
            prop_assert_eq!(index.rows(), first.len() + second.len());
            prop_assert_eq!(index.doc(0).rows(), 0);
            let got = index.maxsim(&query.concat(), &[1, 0, 1]);
            prop_assert!(got[0].is_finite() && got[0].abs() <= 1.0 + 1e-4);
            prop_assert_eq!(got[0], got[2]);
            prop_assert_eq!(got[1], 0.0);
        }
    }

    fn rows(dim: usize, count: std::ops::Range<usize>) -> impl Strategy<Value = Vec<Vec<f32>>> {
        prop::collection::vec(
            prop::collection::vec(-1.0f32..1.0, dim)
                .prop_filter_map("zero row", |v| (dot(&v, &v) > 1e-3).then(|| unit(v))),
            count,
        )
    }

    /// A build that reuses pairs copies their rows unchanged, and writes the very file that a
    /// build embedding every pair with the same quantizer writes.
    #[test]
    fn reused_pairs_keep_their_rows_and_quantizer() {
        let dir = tempfile::tempdir().unwrap();
        let mut rng = SmallRng::seed_from_u64(3);
        let rows = model_like_rows(&mut rng, 90, 32);
        let encodings: Vec<Encoding> = rows.chunks(30).map(encoding).collect();
        let first = build(dir.path(), 3, &[0, 1, 2], &encodings);

        // Pair 1 changes; pairs 0 and 2 swap places and are reused.
        let changed = encoding(&model_like_rows(&mut rng, 12, 32));
        let second = build_reusing(
            dir.path(),
            "second.bin",
            first.quantizer(),
            &[0, 1, 2],
            &[None, Some(&changed), None],
            &[Some(2), None, Some(0)],
            Some(&first),
        );
        assert_eq!(second.quantizer, first.quantizer);
        assert_eq!(second.rows(), 30 + 12 + 30);
        for (new, old) in [(0, 2), (2, 0)] {
            assert_eq!(second.doc(new).codes, first.doc(old).codes);
            assert_eq!(second.doc(new).gains, first.doc(old).gains);
        }
        let full = build_reusing(
            dir.path(),
            "full.bin",
            first.quantizer(),
            &[0, 1, 2],
            &[Some(&encodings[2]), Some(&changed), Some(&encodings[0])],
            &[None, None, None],
            None,
        );
        assert_eq!(full, second);
    }

    #[test]
    fn written_index_loads_identical_and_damage_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens.bin");
        let rows = vec![unit(vec![1.0, 2.0, 3.0]), unit(vec![-1.0, 0.5, 0.0])];
        let index = build(
            dir.path(),
            3,
            &[0, 2],
            &[encoding(&rows), encoding(&rows[..1])],
        );
        assert_eq!(TokenIndex::load(&path).unwrap(), index);

        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 1]).unwrap();
        let error = TokenIndex::load(&path).unwrap_err().to_string();
        assert!(error.contains("rebuild"), "{error}");
        let mut scrambled = bytes.clone();
        let offsets_at = MAGIC.len() + 24 + 3 * 12;
        scrambled[offsets_at + 8] = 0xff;
        std::fs::write(&path, &scrambled).unwrap();
        let error = TokenIndex::load(&path).unwrap_err().to_string();
        assert!(error.contains("offsets"), "{error}");
        let mut scrambled = bytes.clone();
        let leads_at = offsets_at + 4 * 8;
        scrambled[leads_at] = 3;
        std::fs::write(&path, &scrambled).unwrap();
        let error = TokenIndex::load(&path).unwrap_err().to_string();
        assert!(error.contains("first unit is longer"), "{error}");
        std::fs::write(&path, b"not tokens").unwrap();
        assert!(TokenIndex::load(&path).is_err());
    }
}
