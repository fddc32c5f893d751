//! Embedding throughput beside a plain ONNX Runtime loop, in one run: `cargo bench --bench embedding`.
//!
//! The plain loop (`tests/common/reference.rs`) runs the 4-bit float32 reference graph the way
//! a careful notebook would (the model's tokenizer, token-sorted batches of 32, one session);
//! antwort's encoder embeds the same units, respelled and prefixed alike, through its int8
//! graph. Both get the same threads, one after the other, so the ratio is what to compare
//! across machines. `ANTWORT_BENCH_CORPUS` names another corpus (a JSON Lines or BEIR
//! `corpus.jsonl`), `ANTWORT_BENCH_UNITS` how many of its units to take (default 3000, spread
//! evenly over the corpus), `ANTWORT_BENCH_THREADS` the threads (default 2).

#[path = "../tests/common/reference.rs"]
mod reference;

use std::time::Instant;

use antwort::corpus::{units_of, Corpus, CorpusSource};
use antwort::embed::{cosine, E5Encoder, Encoder, ModelFiles, TokenizerScope};

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name).map_or(default, |v| {
        v.parse()
            .unwrap_or_else(|_| panic!("{name}={v:?} is not a number"))
    })
}

fn main() {
    let models = ModelFiles::locate(None).expect("run scripts/fetch-models first");
    let source = std::env::var_os("ANTWORT_BENCH_CORPUS")
        .map_or(CorpusSource::Bundled, |p| CorpusSource::File(p.into()));
    let wanted = env_number("ANTWORT_BENCH_UNITS", 3000);
    let threads = env_number("ANTWORT_BENCH_THREADS", 2);
    let corpus = Corpus::load(&source).unwrap_or_else(|e| panic!("{source}: {e}"));
    let units = units_of(&corpus);
    let step = units.len().div_ceil(wanted).max(1);
    let texts: Vec<&str> = (units.iter().step_by(step))
        .map(|u| u.text(&corpus))
        .collect();

    let encoder = E5Encoder::load(&models, threads, TokenizerScope::Whole).unwrap();
    let respelled: Vec<String> = texts
        .iter()
        .map(|t| encoder.respelled(t).unwrap().into_owned())
        .collect();
    let prefixed: Vec<String> = respelled.iter().map(|t| format!("passage: {t}")).collect();
    let respelled: Vec<&str> = respelled.iter().map(String::as_str).collect();

    // Both loaded and run once before the clock starts: first runs allocate.
    let mut plain_loop =
        reference::PlainLoop::load(&models, &models.reference_model_path(), threads);
    plain_loop.embed(&prefixed[..1]);
    let started = Instant::now();
    let (reference, tokens) = plain_loop.embed(&prefixed);
    let plain = started.elapsed().as_secs_f64();
    // An idle session's threads still spin for a while and would take the cores from the next.
    drop(plain_loop);
    encoder.encode_all(&respelled[..1]).unwrap();

    let started = Instant::now();
    let ours = encoder.encode_all(&respelled).unwrap();
    let antwort = started.elapsed().as_secs_f64();

    let cosines: Vec<f32> = (ours.iter().zip(&reference))
        .map(|(a, b)| cosine(&a.vector, b))
        .collect();
    let mean = cosines.iter().sum::<f32>() / cosines.len() as f32;
    let (worst, at) = (cosines.iter().enumerate())
        .map(|(i, &c)| (c, i))
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .expect("units to embed");

    println!(
        "\nembedding benchmark ({source}: {} of {} units, {tokens} tokens, {threads} threads)",
        texts.len(),
        units.len()
    );
    println!("| encoder | time | tokens/s | units/s |");
    println!("|---|---|---|---|");
    for (name, seconds) in [
        ("plain ONNX Runtime loop, 4-bit float32 graph", plain),
        ("antwort (int8 graph)", antwort),
    ] {
        println!(
            "| {name} | {seconds:.2} s | {:.0} | {:.0} |",
            tokens as f64 / seconds,
            texts.len() as f64 / seconds
        );
    }
    println!("| antwort / plain loop | {:.2}x | | |", plain / antwort);
    println!(
        "pooled cosine to the reference: mean {mean:.5}, minimum {worst:.5} ({} tokens: {:.80})",
        ours[at].tokens.len() / ours[at].dim(),
        texts[at]
    );
}
