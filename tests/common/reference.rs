//! The plain ONNX Runtime loop antwort's encoder is measured and checked against: the model's
//! own tokenizer, batches of [`PLAIN_BATCH`] texts sorted by token count, one session, mean
//! pooling. What a careful notebook does, with nothing of antwort in between.

use std::path::Path;

use antwort::embed::{normalize, ort_environment, ModelFiles, MAX_TOKENS};
use ort::session::Session;
use ort::value::Tensor;
use tokenizers::{Tokenizer, TruncationParams};

pub const PLAIN_BATCH: usize = 32;

pub struct PlainLoop {
    session: Session,
    tokenizer: Tokenizer,
}

impl PlainLoop {
    /// The ONNX graph at `model` in one session with `threads` threads, and the model's tokenizer.
    pub fn load(models: &ModelFiles, model: &Path, threads: usize) -> PlainLoop {
        // ONNX Runtime is loaded from the model directory, once per process.
        let environment = ort_environment(models).expect("ONNX Runtime loads");
        let session = Session::builder(&environment)
            .and_then(|b| Ok(b.with_intra_threads(threads)?))
            .and_then(|mut b| b.commit_from_file(model))
            .unwrap_or_else(|e| panic!("cannot load {}: {e}", model.display()));
        let mut tokenizer = Tokenizer::from_file(models.tokenizer_path()).expect("tokenizer loads");
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: MAX_TOKENS,
                ..Default::default()
            }))
            .expect("truncation is valid");
        PlainLoop { session, tokenizer }
    }

    /// Unit-length mean-pooled vectors of `texts` (already prefixed), in input order, and the
    /// number of tokens they took.
    pub fn embed(&mut self, texts: &[String]) -> (Vec<Vec<f32>>, usize) {
        embed(&mut self.session, &self.tokenizer, texts)
    }
}

fn embed(session: &mut Session, tokenizer: &Tokenizer, texts: &[String]) -> (Vec<Vec<f32>>, usize) {
    let encodings = tokenizer
        .encode_batch(texts.to_vec(), true)
        .expect("texts tokenize");
    let mut order: Vec<usize> = (0..texts.len()).collect();
    order.sort_by_key(|&i| encodings[i].len());

    let mut vectors = vec![Vec::new(); texts.len()];
    let mut tokens = 0;
    for batch in order.chunks(PLAIN_BATCH) {
        let width = batch.iter().map(|&i| encodings[i].len()).max().unwrap_or(0);
        let mut ids = vec![1i64; batch.len() * width]; // <pad>
        let mut mask = vec![0i64; batch.len() * width];
        for (row, &i) in batch.iter().enumerate() {
            for (column, &id) in encodings[i].get_ids().iter().enumerate() {
                ids[row * width + column] = i64::from(id);
                mask[row * width + column] = 1;
            }
            tokens += encodings[i].len();
        }
        let shape = [batch.len(), width];
        let outputs = session
            .run(ort::inputs! {
                "input_ids" => Tensor::from_array((shape, ids)).unwrap(),
                "attention_mask" => Tensor::from_array((shape, mask.clone())).unwrap(),
                "token_type_ids" => Tensor::from_array((shape, vec![0i64; batch.len() * width])).unwrap(),
            })
            .expect("the model runs");
        let (hidden_shape, hidden) = outputs["last_hidden_state"]
            .try_extract_tensor::<f32>()
            .expect("float token states");
        let dim = hidden_shape[2] as usize;
        for (row, &i) in batch.iter().enumerate() {
            let mut pooled = vec![0f32; dim];
            let len = encodings[i].len();
            for token in 0..len {
                let state = &hidden[(row * width + token) * dim..][..dim];
                pooled.iter_mut().zip(state).for_each(|(p, s)| *p += s);
            }
            pooled.iter_mut().for_each(|p| *p /= len as f32);
            normalize(&mut pooled);
            vectors[i] = pooled;
        }
    }
    (vectors, tokens)
}
