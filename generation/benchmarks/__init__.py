"""Automatic benchmarks: lm-evaluation-harness runs on local data, and scores imported from elsewhere.

- `catalog`: the benchmarks, their default shot counts and main metrics;
- `rows` and `data`: checking and storing benchmark documents on local disk;
- `task_configs`: lm-eval task configurations that read those documents;
- `runner`: benchmark runs on a loaded model;
- `results`: reading lm-eval results files and OpenCompass summaries, and storing scores.

Nothing here imports lm_eval, datasets or torch at module level.
"""
