//! `antwort related` and `antwort topics`: moving through the corpus by neighbourhood.

use std::io::Write;

use anyhow::bail;

use super::{open_searcher, Cli, RelatedArgs, TopicsArgs};
use antwort::embed::TokenizerScope;
use antwort::explore::{self, draw_map, Related};
use antwort::search::{Mode, SearchOptions, DEFAULT_FUSION};

pub fn related(cli: &Cli, args: &RelatedArgs) -> anyhow::Result<()> {
    if args.top_k == 0 {
        bail!("--top-k must be at least 1");
    }
    let searcher = open_searcher(cli, Mode::Rerank, TokenizerScope::Queries(&[]))?;
    let doc = match searcher.corpus().position(args.target.trim()) {
        Some(doc) => doc,
        None => {
            let options = SearchOptions::new(Mode::Rerank, 1, DEFAULT_FUSION);
            let answers = searcher.search(&args.target, &options)?;
            match answers.hits.first() {
                Some(hit) => hit.doc,
                None => bail!("nothing in the corpus matches \"{}\"", args.target),
            }
        }
    };
    let related = explore::related(searcher.pair_space(), doc, args.top_k);
    let pair = searcher.corpus().get(doc);
    let mut out = std::io::stdout().lock();
    if args.json {
        let report = serde_json::json!({
            "target": args.target,
            "id": pair.id,
            "question": pair.question,
            "related": related,
        });
        writeln!(out, "{report}")?;
        return Ok(());
    }
    writeln!(out, "Related to {}: {}\n", pair.id, pair.question)?;
    write_related(&mut out, &related)?;
    Ok(())
}

/// One line per related pair, with why it is related.
pub fn write_related(out: &mut impl Write, related: &[Related]) -> std::io::Result<()> {
    for (i, r) in related.iter().enumerate() {
        writeln!(out, "{}. {}", i + 1, r.question)?;
        let terms = if r.shared_terms.is_empty() {
            String::new()
        } else {
            format!(" · shared: {}", r.shared_terms.join(", "))
        };
        let link = serde_json::to_value(r.link).map_or(String::new(), |v| {
            v.as_str().unwrap_or_default().to_string()
        });
        writeln!(
            out,
            "   {} · {link} · similarity {:.3}{terms}",
            r.id, r.similarity
        )?;
    }
    Ok(())
}

pub fn topics(cli: &Cli, args: &TopicsArgs) -> anyhow::Result<()> {
    let searcher = open_searcher(cli, Mode::Bm25, TokenizerScope::Queries(&[]))?;
    let topics = explore::topics(searcher.pair_space());
    if let Some(path) = &args.map {
        draw_map(&topics, path)?;
        eprintln!("map written to {}", path.display());
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", serde_json::to_string_pretty(&topics)?)?;
        return Ok(());
    }
    let corpus = searcher.corpus();
    for (i, topic) in topics.topics.iter().enumerate() {
        let count = topic.docs.len();
        let noun = if count == 1 { "question" } else { "questions" };
        writeln!(out, "{}. {} ({count} {noun})", i + 1, topic.label)?;
        for &doc in &topic.docs {
            writeln!(out, "   - {}", corpus.get(doc).question)?;
        }
        writeln!(out)?;
    }
    if !topics.near_duplicates.is_empty() {
        writeln!(out, "Near-duplicates:")?;
        for d in &topics.near_duplicates {
            writeln!(out, "   {} ~ {} ({:.3})", d.a, d.b, d.similarity)?;
        }
    }
    Ok(())
}
