"""Progress of a generation run: prompts answered, tokens per second and estimated time left.

Speed comes from the run's stored responses and `generated_seconds`, the wall
time of its saved batches summed over every attempt. Model loading, pauses
between attempts and the batch in flight count in neither the tokens nor the
seconds, so a resumed run reports the speed of generation itself.
"""

from dataclasses import dataclass

from django.db.models import Count, IntegerField, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce

from generation.models import GenerationRun, Prompt, Response


@dataclass(frozen=True)
class RunProgress:
    """Counts behind a run's progress: responses stored, prompts to answer, tokens and seconds spent."""

    done: int
    total: int
    tokens: int
    seconds: float

    @property
    def tokens_per_second(self) -> float | None:
        """Generated tokens per second of generation time, or None before the first batch is saved."""
        if self.seconds <= 0:
            return None
        return self.tokens / self.seconds

    @property
    def seconds_left(self) -> float | None:
        """Estimate of the seconds needed for the missing prompts at the mean time per prompt so far.

        0 when every prompt has a response, and None while no timed batch
        exists to estimate from (for example, a run of imported answers).
        """
        if self.done >= self.total:
            return 0.0
        if self.done == 0 or self.seconds <= 0:
            return None
        return (self.total - self.done) * self.seconds / self.done


def with_progress(queryset):
    """Annotate a GenerationRun queryset with the counts `run_progress` reads, in one query."""
    responses = Response.objects.filter(run=OuterRef("pk")).order_by().values("run")
    prompts = Prompt.objects.filter(prompt_set=OuterRef("prompt_set")).order_by().values("prompt_set")
    zero = Value(0, output_field=IntegerField())
    return queryset.annotate(
        progress_done=Coalesce(Subquery(responses.annotate(n=Count("pk")).values("n")), zero),
        progress_tokens=Coalesce(Subquery(responses.annotate(n=Sum("token_count")).values("n")), zero),
        progress_prompts=Coalesce(Subquery(prompts.annotate(n=Count("pk")).values("n")), zero),
    )


def run_progress(run: GenerationRun) -> RunProgress:
    """Return the progress of `run`, from `with_progress` annotations when present, else from two queries."""
    if hasattr(run, "progress_done"):
        done, tokens, prompt_count = run.progress_done, run.progress_tokens, run.progress_prompts
    else:
        totals = run.responses.aggregate(done=Count("pk"), tokens=Sum("token_count"))
        done, tokens = totals["done"], totals["tokens"] or 0
        prompt_count = run.prompt_set.prompts.count()
    total = prompt_count if run.prompt_limit is None else min(prompt_count, run.prompt_limit)
    return RunProgress(done=done, total=total, tokens=tokens, seconds=run.generated_seconds)


def format_duration(seconds: float) -> str:
    """Format a duration as H:MM:SS, rounded to the second."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"
