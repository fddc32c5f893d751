mod common;

use antwort::topics::PairSpace;
use antwort::vector::UnitKind;

fn norm(v: &mut [f32]) {
    let n: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.iter_mut().for_each(|x| *x /= n);
}

#[test]
fn explore() {
    let searcher = common::bundled();
    let index = searcher.index();
    let corpus = &index.corpus;
    let ids: Vec<&str> = corpus.pairs().iter().map(|p| p.id.as_str()).collect();
    for w in [-1.0f32, 0.0, 0.3, 0.5, 0.7, 1.0] {
        let vectors: Vec<Vec<f32>> = (0..corpus.len())
            .map(|doc| {
                let mut q = vec![0.0; 384];
                let mut a = vec![0.0; 384];
                let mut all = vec![0.0; 384];
                for u in index.vectors.units_of_doc(doc) {
                    let v = index.vectors.vector(u);
                    let t = if index.vectors.units()[u].kind == UnitKind::Question {
                        &mut q
                    } else {
                        &mut a
                    };
                    t.iter_mut().zip(v).for_each(|(t, x)| *t += x);
                    all.iter_mut().zip(v).for_each(|(t, x)| *t += x);
                }
                if w < 0.0 {
                    return all;
                }
                norm(&mut q);
                norm(&mut a);
                q.iter()
                    .zip(&a)
                    .map(|(q, a)| w * q + (1.0 - w) * a)
                    .collect()
            })
            .collect();
        let space = PairSpace::from_pairs(corpus.pairs(), vectors).unwrap();
        println!("=== w = {w} semantic>= {:.3}", space.semantic_threshold());
        let pos = |id: &str| ids.iter().position(|x| *x == id).unwrap();
        for id in [
            "lora",
            "rag-vs-fine-tuning",
            "end-to-end-rag-system",
            "gan-principles",
            "conditional-gans",
        ] {
            let rel = space.related(pos(id), 5);
            println!(
                "{id}: {}",
                rel.iter()
                    .map(|r| format!(
                        "{} {:.3} {:?} {:?}",
                        r.id, r.similarity, r.link, r.shared_terms
                    ))
                    .collect::<Vec<_>>()
                    .join(" | ")
            );
        }
        let mut sims = vec![];
        for a in 0..ids.len() {
            for b in a + 1..ids.len() {
                sims.push(space.similarity(a, b));
            }
        }
        sims.sort_by(f32::total_cmp);
        println!(
            "sims min {:.3} q50 {:.3} q90 {:.3} q95 {:.3} max {:.3}",
            sims[0],
            sims[sims.len() / 2],
            sims[sims.len() * 9 / 10],
            sims[sims.len() * 95 / 100],
            sims[sims.len() - 1]
        );
        let t = space.topics();
        println!(
            "silhouette {:.3}, {} topics, dups {:?}",
            t.silhouette,
            t.topics.len(),
            t.near_duplicates
        );
        for topic in &t.topics {
            println!("  [{}] {:?}", topic.label, topic.members);
        }
    }
}
