//! A corpus of three everyday questions, small enough to build in a second with the real model.

/// One JSON Lines record of section `test`.
pub fn record(id: &str, question: &str, answer: &str) -> String {
    serde_json::json!({ "id": id, "section": "test", "question": question, "answer": answer })
        .to_string()
}

/// The corpus's records: bread, tea and a bicycle tyre.
pub fn records() -> Vec<String> {
    vec![
        record(
            "bread",
            "Wie backe ich Brot?",
            "Mehl, Wasser, Salz und Hefe verkneten und backen.",
        ),
        record(
            "tea",
            "Wie koche ich Tee?",
            "Wasser aufkochen und die Teeblätter ziehen lassen.",
        ),
        record(
            "bike",
            "Wie repariere ich einen Fahrradreifen?",
            "Den Schlauch flicken und wieder aufpumpen.",
        ),
    ]
}
