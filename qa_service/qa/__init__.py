"""Question in, answer out: question analysis, retrieval, scoring, entities, lists, answers."""
