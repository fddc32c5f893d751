//! Metadata filters: `--filter field=value` narrows a search to the pairs whose metadata (or
//! section) match, *before* ranking, so that a filtered search still returns `top_k` pairs
//! whenever that many match.
//!
//! Semantics:
//! - conditions on different fields must all hold (AND); several values for the same field
//!   are alternatives (OR): `--filter tags=gan --filter tags=vae --filter section=advanced` is
//!   "(tags gan or vae) and section advanced";
//! - field names and values compare ignoring case and surrounding white space; a value matches
//!   when it equals one of the pair's values of that field (no substrings, no patterns);
//! - `section` is always a known field and matches the pair's section;
//! - a field name that is not in the corpus but whose plural is (`tag` for `tags`) means the
//!   plural;
//! - an unknown field, a value no pair has, and a combination no pair satisfies are errors
//!   that list what the corpus does have, rather than an empty answer.
//!
//! The filter resolves against a corpus into an [`Allowed`] set of pairs; each arm restricts
//! its own search to that set (tantivy through a collector on the ordinal fast field, the dense
//! arm through a filtered HNSW search or exactly over the allowed units).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::dense::{NeighbourSearch, UnitHit, VectorIndex};
use crate::corpus::{Corpus, QaPair, SECTION_FIELD};
use crate::embed::cosine;
use crate::error::{Error, Result};

/// Below this many allowed units the dense arm compares the query with each of them instead of
/// searching the graph: exact, and at a few thousand dot products faster than a graph search
/// whose filter rejects most of what it visits (HNSW recall drops with selective filters).
pub const EXACT_BELOW_UNITS: usize = 4096;

/// How many existing values an error about an unknown value lists at most.
const VALUES_SHOWN: usize = 12;

/// One `field=value` condition, as given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub field: String,
    pub value: String,
}

impl std::str::FromStr for Condition {
    type Err = Error;

    fn from_str(text: &str) -> Result<Condition> {
        let Some((field, value)) = text.split_once('=') else {
            return Err(Error::Usage(format!(
                "filter {text:?} is not FIELD=VALUE; write e.g. --filter section=advanced"
            )));
        };
        let (field, value) = (field.trim(), value.trim());
        if field.is_empty() {
            return Err(Error::Usage(format!(
                "filter {text:?} names no field; write e.g. --filter section=advanced"
            )));
        }
        if value.is_empty() {
            return Err(Error::Usage(format!(
                "filter {text:?} has no value; write e.g. --filter {field}=something"
            )));
        }
        Ok(Condition {
            field: field.to_string(),
            value: value.to_string(),
        })
    }
}

impl std::fmt::Display for Condition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}={}", self.field, self.value)
    }
}

/// Conditions on metadata, not yet checked against a corpus.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    conditions: Vec<Condition>,
}

/// How names and values compare: ignoring case and the white space the corpus loader
/// collapses.
fn key(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// The values a pair has for a field (by its compared name).
fn values_of<'p>(pair: &'p QaPair, field: &str) -> Vec<&'p str> {
    if field == SECTION_FIELD {
        return if pair.section.is_empty() {
            Vec::new()
        } else {
            vec![pair.section.as_str()]
        };
    }
    pair.metadata
        .iter()
        .filter(|(name, _)| key(name) == field)
        .flat_map(|(_, values)| values.iter().map(String::as_str))
        .collect()
}

/// The field names of a corpus, compared form, sorted: `section` and every metadata field.
pub fn known_fields(corpus: &Corpus) -> BTreeSet<String> {
    let mut fields: BTreeSet<String> = corpus
        .pairs()
        .iter()
        .flat_map(|p| p.metadata.keys().map(|k| key(k)))
        .collect();
    fields.insert(SECTION_FIELD.to_string());
    fields
}

impl Filter {
    pub fn new(conditions: Vec<Condition>) -> Filter {
        Filter { conditions }
    }

    /// Parses `field=value` strings, e.g. the values of `--filter`.
    pub fn parse<S: AsRef<str>>(conditions: &[S]) -> Result<Filter> {
        let conditions = conditions
            .iter()
            .map(|c| c.as_ref().parse())
            .collect::<Result<_>>()?;
        Ok(Filter { conditions })
    }

    pub fn is_empty(&self) -> bool {
        self.conditions.is_empty()
    }

    pub fn conditions(&self) -> &[Condition] {
        &self.conditions
    }

    /// The pairs of `corpus` that pass, or `None` for an empty filter (everything passes).
    ///
    /// An error when a field is not in the corpus (listing the fields), when a value is not
    /// (listing some that are), or when no pair meets all conditions together.
    pub fn allowed(&self, corpus: &Corpus) -> Result<Option<Allowed>> {
        if self.conditions.is_empty() {
            return Ok(None);
        }
        let fields = known_fields(corpus);
        // Compared field name → compared values, in the order given.
        let mut wanted: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for condition in &self.conditions {
            let asked = key(&condition.field);
            let field = if fields.contains(&asked) {
                asked
            } else if fields.contains(&format!("{asked}s")) {
                format!("{asked}s")
            } else {
                let listed: Vec<&str> = fields.iter().map(String::as_str).collect();
                let hint = if listed.len() == 1 {
                    " (the corpus has no metadata; add a \"metadata\" object to its records, \
                     or a front matter to a Markdown file)"
                } else {
                    ""
                };
                return Err(Error::Usage(format!(
                    "unknown filter field {:?}; the fields of this corpus are: {}{hint}",
                    condition.field,
                    listed.join(", ")
                )));
            };
            let value = key(&condition.value);
            let present = corpus
                .pairs()
                .iter()
                .any(|p| values_of(p, &field).iter().any(|v| key(v) == value));
            if !present {
                return Err(Error::Usage(unknown_value(corpus, &field, condition)));
            }
            wanted.entry(field).or_default().push(value);
        }
        let docs: Vec<bool> = corpus
            .pairs()
            .iter()
            .map(|pair| {
                wanted.iter().all(|(field, values)| {
                    values_of(pair, field)
                        .iter()
                        .any(|v| values.contains(&key(v)))
                })
            })
            .collect();
        let allowed = Allowed::from_mask(docs);
        if allowed.is_empty() {
            let all: Vec<String> = self.conditions.iter().map(|c| c.to_string()).collect();
            return Err(Error::Usage(format!(
                "no pair matches all of the filters {} together (each matches some pairs alone); \
                 drop one of them, or give several values for one field to accept any of them",
                all.join(", ")
            )));
        }
        Ok(Some(allowed))
    }
}

/// The message for a value no pair has: some values the field does have.
fn unknown_value(corpus: &Corpus, field: &str, condition: &Condition) -> String {
    let mut counts: BTreeMap<String, (String, usize)> = BTreeMap::new();
    for pair in corpus.pairs() {
        for value in values_of(pair, field) {
            counts.entry(key(value)).or_insert((value.to_string(), 0)).1 += 1;
        }
    }
    if counts.is_empty() {
        return format!(
            "no pair has a value for {field:?}, so --filter {condition} matches nothing"
        );
    }
    // The most common first, so that a long list starts with what is most likely meant.
    let mut values: Vec<(String, usize)> = counts.into_values().collect();
    values.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let shown: Vec<&str> = values
        .iter()
        .take(VALUES_SHOWN)
        .map(|(v, _)| v.as_str())
        .collect();
    let more = if values.len() > VALUES_SHOWN {
        format!(", … ({} values in all)", values.len())
    } else {
        String::new()
    };
    format!(
        "no pair has {field}={:?}; values of {field} in this corpus: {}{more}",
        condition.value,
        shown.join(", ")
    )
}

/// The pairs a filter lets through, by corpus ordinal. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allowed {
    docs: Arc<[bool]>,
    count: usize,
}

impl Allowed {
    /// One flag per pair of the corpus.
    pub fn from_mask(docs: Vec<bool>) -> Allowed {
        let count = docs.iter().filter(|&&d| d).count();
        Allowed {
            docs: docs.into(),
            count,
        }
    }

    /// The pairs `docs` of a corpus of `len` pairs.
    pub fn from_docs(len: usize, docs: impl IntoIterator<Item = usize>) -> Allowed {
        let mut mask = vec![false; len];
        for doc in docs {
            if let Some(slot) = mask.get_mut(doc) {
                *slot = true;
            }
        }
        Allowed::from_mask(mask)
    }

    pub fn contains(&self, doc: usize) -> bool {
        self.docs.get(doc).copied().unwrap_or(false)
    }

    /// How many pairs pass.
    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The allowed ordinals, ascending.
    pub fn docs(&self) -> impl Iterator<Item = usize> + '_ {
        self.docs
            .iter()
            .enumerate()
            .filter_map(|(doc, &allowed)| allowed.then_some(doc))
    }
}

/// The `k` units of allowed pairs nearest to `query`, best first.
///
/// Exactly over the allowed units when `search` is [`NeighbourSearch::Exact`] or they number
/// fewer than `exact_below`; otherwise by the index's search ([`VectorIndex::search_where`]:
/// the scan, or the graph with the filter applied during the search), and exactly after all
/// should the graph return fewer than `k` units (it can, when the filter rejects most of the
/// neighbourhood it explores).
pub fn nearest_allowed(
    index: &VectorIndex,
    search: NeighbourSearch,
    query: &[f32],
    k: usize,
    allowed: &Allowed,
    exact_below: usize,
) -> Vec<UnitHit> {
    let units: Vec<usize> = allowed.docs().flat_map(|d| index.units_of_doc(d)).collect();
    let k = k.min(units.len());
    if k == 0 {
        return Vec::new();
    }
    if search == NeighbourSearch::Indexed && units.len() >= exact_below {
        let unit_docs = index.units();
        let hits = index.search_where(query, k, &|unit| {
            unit_docs.get(unit).is_some_and(|u| allowed.contains(u.doc))
        });
        if hits.len() >= k {
            return hits;
        }
    }
    let mut hits: Vec<UnitHit> = units
        .into_iter()
        .map(|unit| UnitHit {
            unit,
            similarity: cosine(query, index.vector(unit)),
        })
        .collect();
    hits.sort_by(|a, b| {
        b.similarity
            .total_cmp(&a.similarity)
            .then(a.unit.cmp(&b.unit))
    });
    hits.truncate(k);
    hits
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::corpus::Metadata;
    use crate::retrieve::dense::GraphPolicy;

    fn pair(id: &str, section: &str, metadata: &[(&str, &[&str])]) -> QaPair {
        QaPair {
            id: id.into(),
            section: section.into(),
            question: format!("Frage {id}?"),
            answer: format!("Antwort {id}."),
            metadata: metadata
                .iter()
                .map(|(k, vs)| (k.to_string(), vs.iter().map(|v| v.to_string()).collect()))
                .collect::<Metadata>(),
        }
    }

    fn corpus() -> Corpus {
        Corpus::from_pairs(vec![
            pair(
                "a",
                "basic",
                &[("tags", &["gan", "training"]), ("source", &["book"])],
            ),
            pair(
                "b",
                "advanced",
                &[("tags", &["GAN"]), ("source", &["blog"])],
            ),
            pair("c", "advanced", &[("tags", &["vae"])]),
            pair("d", "advanced", &[]),
            pair("e", "", &[("Source", &["Book"])]),
        ])
        .unwrap()
    }

    fn ids(filter: &[&str]) -> Vec<String> {
        let corpus = corpus();
        let allowed = Filter::parse(filter).unwrap().allowed(&corpus).unwrap();
        allowed
            .unwrap()
            .docs()
            .map(|d| corpus.get(d).id.clone())
            .collect()
    }

    fn error(filter: &[&str]) -> String {
        match Filter::parse(filter).and_then(|f| f.allowed(&corpus())) {
            Ok(allowed) => panic!("{filter:?} should fail, gave {allowed:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn conditions_parse_as_field_equals_value() {
        let c: Condition = " tags = gan ".parse().unwrap();
        assert_eq!((c.field.as_str(), c.value.as_str()), ("tags", "gan"));
        let c: Condition = "url=https://x/?a=b".parse().unwrap();
        assert_eq!(c.value, "https://x/?a=b", "split at the first '=' only");
        for (bad, needle) in [
            ("section", "is not FIELD=VALUE"),
            ("=advanced", "names no field"),
            ("section=", "has no value"),
        ] {
            let e = bad.parse::<Condition>().unwrap_err().to_string();
            assert!(e.contains(needle), "{bad:?}: {e}");
            assert!(
                e.contains("--filter section=advanced") || e.contains("--filter section=something"),
                "{e}"
            );
        }
    }

    #[test]
    fn no_conditions_allow_everything() {
        assert_eq!(Filter::default().allowed(&corpus()).unwrap(), None);
    }

    #[test]
    fn fields_and_then_values_or_then() {
        assert_eq!(ids(&["tags=gan"]), ["a", "b"], "case ignored in values");
        assert_eq!(
            ids(&["tags=gan", "tags=vae"]),
            ["a", "b", "c"],
            "same field: or"
        );
        assert_eq!(ids(&["tags=gan", "section=advanced"]), ["b"], "fields: and");
        assert_eq!(
            ids(&["section=advanced", "tags=gan", "tags=vae"]),
            ["b", "c"]
        );
        assert_eq!(ids(&["SOURCE=book"]), ["a", "e"], "case ignored in names");
        assert_eq!(ids(&["tag=training"]), ["a"], "a singular means the plural");
        assert_eq!(ids(&["section=Advanced"]), ["b", "c", "d"]);
    }

    #[test]
    fn an_unknown_field_lists_the_known_ones() {
        let e = error(&["author=me"]);
        assert!(e.contains("unknown filter field \"author\""), "{e}");
        assert!(e.contains("section, source, tags"), "{e}");
    }

    #[test]
    fn a_corpus_without_metadata_says_so() {
        let corpus = Corpus::from_pairs(vec![pair("a", "x", &[])]).unwrap();
        let e = Filter::parse(&["tags=gan"])
            .unwrap()
            .allowed(&corpus)
            .unwrap_err()
            .to_string();
        assert!(e.contains("the fields of this corpus are: section"), "{e}");
        assert!(e.contains("has no metadata"), "{e}");
    }

    #[test]
    fn an_unknown_value_lists_existing_ones_most_common_first() {
        let e = error(&["tags=diffusion"]);
        assert!(e.contains("no pair has tags=\"diffusion\""), "{e}");
        assert!(
            e.contains("values of tags in this corpus: gan, training, vae"),
            "{e}"
        );
    }

    #[test]
    fn conditions_that_exclude_each_other_are_an_error() {
        let e = error(&["tags=vae", "source=blog"]);
        assert!(
            e.contains("no pair matches all of the filters tags=vae, source=blog"),
            "{e}"
        );
    }

    /// `docs` pairs of `per_doc` units each, with pseudo-random unit vectors.
    fn vector_index(docs: usize, per_doc: usize, graph: GraphPolicy) -> VectorIndex {
        use crate::corpus::{Unit, UnitKind};
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f32 / (1u64 << 53) as f32 - 0.5
        };
        let mut units = Vec::new();
        let mut vectors = Vec::new();
        for doc in 0..docs {
            for _ in 0..per_doc {
                units.push(Unit {
                    doc,
                    kind: UnitKind::Sentence,
                    span: 0..0,
                });
                let v: Vec<f32> = (0..16).map(|_| next()).collect();
                let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
                vectors.push(v.into_iter().map(|x| x / norm).collect());
            }
        }
        VectorIndex::build(units, vectors, graph).unwrap()
    }

    #[test]
    fn indexed_and_exact_paths_find_the_nearest_allowed_units() {
        for policy in [GraphPolicy::Always, GraphPolicy::Never] {
            let index = vector_index(400, 2, policy);
            // Every fifth pair: the graph path has to look past four rejected pairs in five.
            let allowed = Allowed::from_docs(400, (0..400).step_by(5));
            let query = index.vector(3).to_vec();
            let exact = nearest_allowed(
                &index,
                NeighbourSearch::Indexed,
                &query,
                10,
                &allowed,
                usize::MAX,
            );
            let forced_exact =
                nearest_allowed(&index, NeighbourSearch::Exact, &query, 10, &allowed, 0);
            let graph = nearest_allowed(&index, NeighbourSearch::Indexed, &query, 10, &allowed, 0);
            let graph_only =
                index.search_where(&query, 10, &|u| allowed.contains(index.units()[u].doc));
            // The reference: every allowed unit compared.
            let mut reference: Vec<(usize, f32)> = (0..index.len())
                .filter(|&u| allowed.contains(index.units()[u].doc))
                .map(|u| (u, cosine(&query, index.vector(u))))
                .collect();
            reference.sort_by(|a, b| b.1.total_cmp(&a.1));
            let reference: Vec<usize> = reference.iter().take(10).map(|r| r.0).collect();
            let units = |hits: &[UnitHit]| hits.iter().map(|h| h.unit).collect::<Vec<_>>();
            assert_eq!(units(&exact), reference);
            assert_eq!(units(&forced_exact), reference);
            assert_eq!(graph.len(), 10);
            assert_eq!(
                graph_only.len(),
                10,
                "the graph itself finds k allowed units"
            );
            for hits in [&graph, &graph_only] {
                assert!(hits
                    .iter()
                    .all(|h| allowed.contains(index.units()[h.unit].doc)));
                let found = units(hits).iter().filter(|u| reference.contains(u)).count();
                assert!(
                    found >= 9,
                    "graph recall {found}/10: {:?} vs {reference:?}",
                    units(hits)
                );
            }
            if policy == GraphPolicy::Never {
                assert_eq!(units(&graph), reference, "the scan is exact");
            }
        }
    }

    #[test]
    fn a_tiny_allowed_set_gives_all_its_units() {
        let index = vector_index(300, 3, GraphPolicy::Always);
        let allowed = Allowed::from_docs(300, [7, 250]);
        let query = index.vector(0).to_vec();
        for (search, exact_below) in [
            (NeighbourSearch::Indexed, 0),
            (NeighbourSearch::Indexed, 4096),
            (NeighbourSearch::Exact, 0),
        ] {
            let hits = nearest_allowed(&index, search, &query, 50, &allowed, exact_below);
            let mut units: Vec<usize> = hits.iter().map(|h| h.unit).collect();
            units.sort_unstable();
            assert_eq!(
                units,
                [21, 22, 23, 750, 751, 752],
                "{search:?} below {exact_below}"
            );
        }
    }

    #[test]
    fn allowed_sets_count_and_list_their_pairs() {
        let allowed = Allowed::from_docs(5, [3, 1, 9]);
        assert_eq!(allowed.len(), 2);
        assert_eq!(allowed.docs().collect::<Vec<_>>(), [1, 3]);
        assert!(allowed.contains(3) && !allowed.contains(2) && !allowed.contains(9));
    }
}
