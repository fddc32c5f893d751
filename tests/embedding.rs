//! The e5 encoder on the real model: what it hands the pipeline matches what fastembed's own
//! loading computes, and its token states are the text's own tokens.

mod common;

use antwort::embed::{
    cosine, ort_environment, E5Encoder, Encoder, Encoding, TokenizerScope, MAX_TOKENS, MODEL_SUBDIR,
};
use fastembed::{
    InitOptionsUserDefined, Pooling, TextEmbedding, TokenizerFiles, UserDefinedEmbeddingModel,
};

/// The tokenizer loaded beside fastembed (antwort hands fastembed a placeholder and builds the
/// real one on another thread) must tokenize exactly as the one fastembed loads itself: same
/// vectors for umlauts, emoji, a batch that pads, and an input that truncates.
#[test]
fn parallel_tokenizer_gives_fastembeds_own_embeddings() {
    let models = common::models();
    let ours = common::encoder();

    let dir = models.root().join(MODEL_SUBDIR);
    let read = |name: &str| std::fs::read(dir.join(name)).unwrap();
    let tokenizer = TokenizerFiles {
        tokenizer_file: read("tokenizer.json"),
        config_file: read("config.json"),
        special_tokens_map_file: read("special_tokens_map.json"),
        tokenizer_config_file: read("tokenizer_config.json"),
    };
    let model =
        UserDefinedEmbeddingModel::new(read("model.onnx"), tokenizer).with_pooling(Pooling::Mean);
    // ONNX Runtime allows one environment per process: the one antwort's encoder made.
    let options = InitOptionsUserDefined::new()
        .with_max_length(MAX_TOKENS)
        .with_intra_threads(2)
        .with_environment(ort_environment(&models).unwrap());
    let mut reference = TextEmbedding::try_new_from_user_defined(model, options).unwrap();

    let long = "Übersetzung und Straße ".repeat(300);
    let texts = [
        "Was ist Low-Rank-Adaptation (LoRA)?",
        "Größere Modelle brauchen mehr Rechenleistung 🚀",
        "How do diffusion models work?",
        long.as_str(),
    ];
    for text in texts {
        assert_eq!(
            ours.respelled(text).unwrap(),
            text,
            "no digraphs to restore here"
        );
    }
    let encoded = ours.encode_all(&texts).unwrap();
    let prefixed = texts.map(|t| format!("passage: {t}"));
    let theirs = reference.embed(&prefixed, Some(texts.len())).unwrap();
    for ((a, b), text) in encoded.iter().zip(&theirs).zip(texts) {
        let similarity = cosine(&a.vector, b);
        assert!(similarity > 0.99999, "{similarity} for {:.40}", text);
    }
}

/// Token states are one unit-length row per token of the text itself: as many as the
/// tokenizer makes of the text without prefix, start and end; an input cut at 512 tokens
/// keeps the rows that fit.
#[test]
fn token_states_cover_exactly_the_texts_own_tokens() {
    let encoder = common::encoder();
    let text = "Größere Modelle brauchen mehr Rechenleistung";
    let own_tokens = encoder.token_count(text).unwrap();
    let query = encoder.encode_query(text).unwrap();
    let passage = encoder.encode_all(&[text]).unwrap().remove(0);
    for encoding in [&query, &passage] {
        assert_eq!(encoding.dim(), 384);
        assert_eq!(encoding.token_rows().count(), own_tokens);
        for row in encoding.token_rows() {
            assert!((cosine(row, row) - 1.0).abs() < 1e-4);
        }
    }
    // In context, a query's tokens and a passage's tokens of the same words differ
    // (their prefixes differ), but stay close.
    let first = |e: &Encoding| e.token_rows().next().unwrap().to_vec();
    let similarity = cosine(&first(&query), &first(&passage));
    assert!(similarity > 0.8 && similarity < 0.99999, "{similarity}");

    let long = "Übersetzung ".repeat(600);
    let cut = encoder.encode_query(&long).unwrap();
    let prefix = encoder.query_prefix_tokens();
    assert_eq!(cut.token_rows().count(), MAX_TOKENS - 2 - prefix);
}

/// An encoder whose tokenizer was built for the queries at hand (what a one-shot `antwort ask`
/// loads) encodes exactly as one with the whole tokenizer: those queries, queries it was not
/// built for (including respelled digraphs), and passages after them.
#[test]
fn query_scoped_tokenizer_encodes_as_the_whole_one() {
    let whole = common::encoder();
    let asked = vec!["Was ist LoRA?".to_string()];
    let scoped = E5Encoder::load(&common::models(), 2, TokenizerScope::Queries(&asked)).unwrap();
    let queries = [
        "Was ist LoRA?",
        "Wie kann ich ein Modell guenstig anpassen, ohne saemtliche Gewichte zu aendern?",
        "Straße (Fußgänger) 🚀 <mask> 大语言模型",
        "How do diffusion models work?",
    ];
    for query in queries {
        assert_eq!(
            scoped.respelled(query).unwrap(),
            whole.respelled(query).unwrap()
        );
        let (a, b) = (
            scoped.encode_query(query).unwrap(),
            whole.encode_query(query).unwrap(),
        );
        assert_eq!(a.tokens.len(), b.tokens.len(), "{query}");
        assert!(cosine(&a.vector, &b.vector) > 0.99999, "{query}");
        assert_eq!(
            scoped.token_count(query).unwrap(),
            whole.token_count(query).unwrap()
        );
    }
    let passages = [
        "Quantisierung verkleinert Gewichte auf 4 Bit.",
        "Rechenleistung",
    ];
    let (a, b) = (
        scoped.encode_all(&passages).unwrap(),
        whole.encode_all(&passages).unwrap(),
    );
    for (a, b) in a.iter().zip(&b) {
        assert_eq!(a.tokens.len(), b.tokens.len());
        assert!(cosine(&a.vector, &b.vector) > 0.99999);
    }
}
