//! Exploring a corpus by neighbourhood instead of by query: the nearest other pairs of one pair
//! or of a text ("related", "see also"), the corpus grouped into topics, and a map of them.
//!
//! Everything here is built on the pair similarity of [`crate::similarity`], which ranking
//! uses too; nothing in search or reranking depends on this module. It is split by job:
//!
//! - `related`: nearest pairs, each with how it is related and the words it shares;
//! - `topics`: the corpus clustered, described and projected into [`Topics`];
//! - `cluster` and `projection`: the generic algorithms the topics use (Louvain modularity
//!   clustering of a neighbour graph, PCA by power iteration), on plain data;
//! - `map`: the topic map as SVG, the only user of plotters (cargo feature `map`).
//!
//! ```text
//! PairSpace ─┬▶ related(&space, doc, k)   nearest pairs, with similarity, link and shared words
//!            └▶ topics(&space) ─▶ Topics ─▶ draw_map(&topics, "map.svg")
//! ```

mod cluster;
#[cfg(feature = "map")]
mod map;
mod projection;
mod related;
mod topics;

#[cfg(feature = "map")]
pub use map::{draw_map, map_svg};
pub use related::{related, related_to_text, Link, Related};
pub use topics::{
    topics, MapPoint, NearDuplicate, Topic, Topics, MAX_CLUSTERED, NEAR_DUPLICATE_SIMILARITY,
};
