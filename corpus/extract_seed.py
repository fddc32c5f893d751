#!/usr/bin/env python3
"""Extract the GenAI interview Q&A corpus from the German seed article.

Usage:
    python3 corpus/extract_seed.py <seed.txt> corpus/genai-interview.jsonl

Deterministic, stdlib only (Python 3.11). Kept for provenance; nothing in
antwort uses it at run time.

The article structure is hard-coded on purpose: every question line, every
section heading, every section intro and every figure caption is listed
verbatim below (after whitespace normalisation) and the script asserts that
each one is found exactly where expected. If the seed changes, the script
fails loudly instead of silently producing a different corpus.
"""

from __future__ import annotations

import json
import re
import sys

EXPECTED_COUNT = 36


def norm(line: str) -> str:
    """Collapse every run of whitespace to one space and trim."""
    return re.sub(r"\s+", " ", line).strip()


# Section headings, in article order: (heading line, intro line, section value).
# The heading and the intro paragraph directly below it are dropped.
SECTIONS: list[tuple[str, str, str]] = [
    (
        "Grundlegende Fragen zum Thema generative KI für Vorstellungsgespräche",
        "Fangen wir mit ein paar grundlegenden Fragen für Vorstellungsgespräche "
        "zum Thema generative KI an. Hier wird dein Verständnis der wichtigsten "
        "Konzepte und Prinzipien getestet.",
        "basic",
    ),
    (
        "Fragen für Vorstellungsgespräche zum Thema generative KI für Fortgeschrittene",
        "Nachdem wir jetzt die Grundlagen geklärt haben, schauen wir uns ein paar "
        "fortgeschrittene Fragen zu generativer KI für Vorstellungsgespräche an.",
        "intermediate",
    ),
    (
        "Fragen zum Vorstellungsgespräch über fortgeschrittene generative KI",
        "Für alle, die nach höheren Positionen suchen oder ihr tiefes Verständnis "
        "von generativer KI zeigen wollen, schauen wir uns ein paar fortgeschrittene "
        "Interviewfragen an.",
        "advanced",
    ),
    (
        "Fragen für ein Vorstellungsgespräch zum Thema generative KI für einen KI-Ingenieur",
        "Wenn du dich für eine Stelle als KI-Ingenieur mit Schwerpunkt auf "
        "generativer KI bewirbst, solltest du dich auf Fragen einstellen, die deine "
        "Fähigkeiten beim Entwerfen, Implementieren und Einsetzen generativer "
        "Modelle testen.",
        "ai-engineer",
    ),
]

# The conclusion heading; everything from here on is not part of any record.
CONCLUSION = "Fazit"

# Figure captions that sit inside answers and are dropped.
CAPTIONS = {
    "Die Struktur eines Variational Autoencoders. (Quelle: Wikimedia Commons)",
    "Erzeugung eines Bildes durch Diffusionsschritte. (Quelle: Wikimedia Commons)",
}

# Every question, in article order: (section, id, exact question line).
QUESTIONS: list[tuple[str, str, str]] = [
    # --- basic -------------------------------------------------------------
    ("basic", "discriminative-vs-generative",
     "Was sind die wichtigsten Unterschiede zwischen diskriminativen und generativen Modellen?"),
    ("basic", "tokens-and-embeddings",
     "Was sind Token und Einbettungen im Zusammenhang mit großen Sprachmodellen (LLMs)?"),
    ("basic", "gan-principles",
     "Kannst du mal die Grundprinzipien von Generative Adversarial Networks (GANs) erklären?"),
    ("basic", "genai-applications",
     "Was sind ein paar beliebte Anwendungen von generativer KI in der echten Welt?"),
    ("basic", "training-and-evaluation-challenges",
     "Was sind die Herausforderungen beim Training und bei der Bewertung von generativen KI-Modellen?"),
    ("basic", "ethical-concerns",
     "Was sind ein paar ethische Fragen, die man sich beim Einsatz generativer KI stellen sollte?"),
    ("basic", "augmenting-human-creativity",
     "Wie kann generative KI genutzt werden, um die menschliche Kreativität zu steigern oder zu verbessern?"),
    ("basic", "foundation-vs-fine-tuned-model",
     "Was ist der Unterschied zwischen einem Basismodell und einem fein abgestimmten Modell?"),
    # --- intermediate ------------------------------------------------------
    ("intermediate", "gan-mode-collapse",
     "Was ist „Mode Collapse“ in GANs und wie gehen wir damit um?"),
    ("intermediate", "vae",
     "Wie funktioniert ein Variational Autoencoder (VAE)?"),
    ("intermediate", "rag-vs-fine-tuning",
     "Erkläre mal den Unterschied zwischen Retrieval-Augmented Generation (RAG) und "
     "Fine-Tuning. Wann würdest du das eine gegenüber dem anderen bevorzugen?"),
    ("intermediate", "llm-evaluation-and-llm-as-a-judge",
     "Wie würdest du eine LLM-Bewerbung bewerten? Erklär mal „LLM-as-a-Judge”."),
    ("intermediate", "gan-training-stability",
     "Was sind ein paar Techniken, um die Stabilität und Konvergenz des GAN-Trainings zu verbessern?"),
    ("intermediate", "controlling-output-style",
     "Wie kannst du den Stil oder die Eigenschaften von Inhalten, die mit generativen "
     "KI-Modellen erstellt werden, steuern?"),
    ("intermediate", "mitigating-bias",
     "Wie kann man das Problem der Voreingenommenheit in generativen KI-Modellen angehen?"),
    ("intermediate", "latent-space",
     "Kannst du mal das Konzept des „latenten Raums“ in generativen Modellen und seine Bedeutung erklären?"),
    ("intermediate", "self-supervised-learning",
     "Welche Rolle spielt selbstüberwachtes Lernen bei der Entwicklung generativer KI-Modelle?"),
    ("intermediate", "lora",
     "Was ist Low-Rank-Adaptation (LoRA)?"),
    # --- advanced ----------------------------------------------------------
    ("advanced", "diffusion-models",
     "Erkläre mal das Konzept der „Diffusionsmodelle“ und wie sie sich von älteren "
     "Architekturen unterscheiden."),
    ("advanced", "transformer-architecture",
     "Wie funktioniert die Transformer-Architektur und wo liegt ihr größter Engpass?"),
    ("advanced", "reasoning-models",
     "Was ist ein „Reasoning Model“ (System-2-Denken) und wie unterscheidet es sich "
     "von einem normalen LLM?"),
    ("advanced", "high-resolution-long-content",
     "Kannst du mal die Probleme bei der Erstellung von hochauflösenden oder langen "
     "Inhalten mit generativer KI ansprechen?"),
    ("advanced", "emerging-trends",
     "Was sind ein paar neue Trends und Forschungsrichtungen im Bereich der generativen KI?"),
    ("advanced", "industry-personalized-content-system",
     "Wie würdest du ein System entwickeln, das generative KI nutzt, um personalisierte "
     "Inhalte für eine bestimmte Branche, wie zum Beispiel das Gesundheitswesen, zu erstellen?"),
    ("advanced", "in-context-learning",
     "Erklär mal das Konzept des „kontextbezogenen Lernens” im Zusammenhang mit LLMs."),
    ("advanced", "prompt-engineering-best-practices",
     "Wie kann man Eingabeaufforderungen so gestalten, dass sie das gewünschte Verhalten "
     "oder die gewünschten Ergebnisse vom Modell bekommen? Was sind die besten Methoden "
     "für effektives Prompt Engineering?"),
    ("advanced", "inference-speed-optimization",
     "Welche Techniken gibt's, um die Inferenzgeschwindigkeit generativer KI-Modelle zu verbessern?"),
    ("advanced", "conditional-gans",
     "Kannst du mal das Konzept der „bedingten Generierung” erklären und wie es in "
     "Modellen wie bedingten GANs (cGANs) genutzt wird?"),
    ("advanced", "mixture-of-experts",
     "Kannst du mal die Mixture of Experts (MoE)-Architektur erklären? Warum ist es "
     "bei großen Modellen besser?"),
    # --- ai-engineer -------------------------------------------------------
    ("ai-engineer", "agentic-workflow-vs-chatbot",
     "Was ist ein agenter Workflow im Vergleich zu einem normalen Chatbot?"),
    ("ai-engineer", "llm-guardrails",
     "Wie stellst du mit Guardrails die Sicherheit und Robustheit beim Einsatz von LLM sicher?"),
    ("ai-engineer", "challenging-genai-project",
     "Erzähl mal von einem anspruchsvollen Projekt mit generativer KI, das du gemacht "
     "hast. Was waren die größten Herausforderungen und wie hast du sie gemeistert?"),
    ("ai-engineer", "genai-in-production",
     "Kannst du uns was über deine Erfahrungen mit der Implementierung und dem Einsatz "
     "generativer KI-Modelle in Produktionsumgebungen erzählen?"),
    ("ai-engineer", "lost-in-the-middle",
     "Wie gehst du mit dem Phänomen „verloren in der Mitte” in Fenstern mit langen Texten um?"),
    ("ai-engineer", "end-to-end-rag-system",
     "Wie würdest du die Aufgabe angehen, ein durchgängiges RAG-System aufzubauen?"),
    ("ai-engineer", "open-research-questions",
     "Was sind für dich die spannendsten offenen Forschungsfragen oder Bereiche im "
     "Bereich der generativen KI?"),
]

ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def index_of(lines: list[str], text: str) -> int:
    hits = [i for i, line in enumerate(lines) if line == text]
    if len(hits) != 1:
        raise SystemExit(f"expected exactly one line {text!r}, found {len(hits)}")
    return hits[0]


def extract(seed_text: str) -> list[dict[str, str]]:
    lines = [norm(line) for line in seed_text.splitlines()]

    # Static sanity checks on the hand-written tables.
    assert len(QUESTIONS) == EXPECTED_COUNT, len(QUESTIONS)
    ids = [qid for _, qid, _ in QUESTIONS]
    assert len(set(ids)) == len(ids), "duplicate ids"
    for qid in ids:
        assert ID_RE.match(qid) and len(qid) <= 40, qid

    # Locate every structural line; each must occur exactly once.
    heading_at = {index_of(lines, h): (h, intro, sec) for h, intro, sec in SECTIONS}
    question_at = [index_of(lines, q) for _, _, q in QUESTIONS]
    conclusion_at = index_of(lines, CONCLUSION)

    assert question_at == sorted(question_at), "questions out of article order"
    assert sorted(heading_at) == [index_of(lines, h) for h, _, _ in SECTIONS]
    assert question_at[-1] < conclusion_at

    # Each heading is followed directly by its intro, then the first question
    # of that section (empty lines aside).
    for h_idx, (_, intro, sec) in heading_at.items():
        rest = [i for i in range(h_idx + 1, len(lines)) if lines[i]]
        assert lines[rest[0]] == intro, (sec, lines[rest[0]])
        first_q = question_at.index(rest[1])
        assert QUESTIONS[first_q][0] == sec, (sec, QUESTIONS[first_q])

    # Section of each question is determined by the nearest heading above it;
    # it must agree with the hand-written table.
    heading_idx = sorted(heading_at)
    for (sec, qid, _), q_idx in zip(QUESTIONS, question_at):
        above = [h for h in heading_idx if h < q_idx]
        assert above, qid
        assert heading_at[above[-1]][2] == sec, (qid, sec, heading_at[above[-1]][2])

    # An answer runs until the next question, section heading or conclusion.
    stops = sorted(set(question_at) | set(heading_at) | {conclusion_at})

    records: list[dict[str, str]] = []
    for (sec, qid, question), q_idx in zip(QUESTIONS, question_at):
        end = next(s for s in stops if s > q_idx)
        body = [
            line
            for line in lines[q_idx + 1:end]
            if line and line not in CAPTIONS
        ]
        assert body, f"empty answer for {qid}"
        records.append(
            {
                "id": qid,
                "section": sec,
                "question": question,
                "answer": "\n".join(body),
            }
        )

    # Every caption must have been seen (and dropped) exactly once.
    for cap in CAPTIONS:
        index_of(lines, cap)

    assert len(records) == EXPECTED_COUNT
    return records


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print("usage: python3 corpus/extract_seed.py <seed.txt> <out.jsonl>", file=sys.stderr)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        records = extract(f.read())
    with open(argv[2], "w", encoding="utf-8", newline="\n") as f:
        for rec in records:
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
    counts: dict[str, int] = {}
    for rec in records:
        counts[rec["section"]] = counts.get(rec["section"], 0) + 1
    print(f"wrote {len(records)} records to {argv[2]}: {counts}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
