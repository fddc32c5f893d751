//! A small hand-made corpus for the unit tests of pair similarity and of exploration: three
//! topics of two pairs each, whose pairs share distinctive words, with raw vectors that share a
//! large common direction as a model's embeddings do.

use super::PairSpace;
use crate::corpus::QaPair;

/// GAN (0, 1), quantisation (2, 3), tokens (4, 5); a few words link pairs of different
/// topics ("Netz", "Training", "Transformer").
pub(crate) fn pairs() -> Vec<QaPair> {
    vec![
        QaPair::new(
            "gan-basics",
            "Wie arbeiten Generator und Diskriminator in einem GAN zusammen?",
            "Der Generator, ein Netz, erzeugt Bilder aus Rauschen. Der Diskriminator bewertet, ob \
             ein Bild echt ist.",
        ),
        QaPair::new(
            "gan-training",
            "Warum ist das Training eines GAN instabil?",
            "Generator und Diskriminator spielen gegeneinander, anders als im Transformer. Wenn \
             der Diskriminator zu stark wird, lernt der Generator nichts.",
        ),
        QaPair::new(
            "quantization",
            "Was bringt Quantisierung bei großen Sprachmodellen?",
            "Quantisierung speichert die Gewichte nach dem Training mit weniger Bits. Das \
             Sprachmodell braucht dann weniger Speicher.",
        ),
        QaPair::new(
            "quantization-speed",
            "Macht Quantisierung die Inferenz schneller?",
            "Ja, mit weniger Bits pro Gewicht liest ein Netz wie der Transformer weniger Speicher.",
        ),
        QaPair::new(
            "tokenizer",
            "Was macht ein Tokenizer?",
            "Ein Tokenizer zerlegt Text in Tokens, bevor das Netz ihn liest.",
        ),
        QaPair::new(
            "attention",
            "Was ist Attention im Transformer?",
            "Attention gewichtet für jedes Token die anderen Tokens. Der Transformer stapelt \
             solche Schichten.",
        ),
    ]
}

/// One raw vector per pair of [`pairs`]: a common direction of length 4 plus a small part
/// along the pair's topic axis.
pub(crate) fn vectors() -> Vec<Vec<f32>> {
    let specific: [[f32; 4]; 6] = [
        [1.0, 0.0, 0.0, 0.25],
        [0.8, 0.15, 0.0, -0.25],
        [0.0, 1.0, 0.1, 0.25],
        [0.2, 0.8, 0.0, -0.25],
        [0.0, 0.1, 1.0, 0.3],
        [0.25, 0.0, 0.8, -0.3],
    ];
    specific
        .iter()
        .map(|s| s.iter().map(|x| 2.0 + x).collect())
        .collect()
}

pub(crate) fn space() -> PairSpace {
    PairSpace::from_pairs(&pairs(), vectors()).unwrap()
}
