"""The benchmark section of a study report, built where the page includes it."""

from django import template

from reports.benchmarks import MIN_MODELS, benchmark_comparison

register = template.Library()


@register.inclusion_tag("reports/_benchmarks.html", takes_context=True)
def benchmark_section(context, study, report):
    """Render human scores beside benchmark scores for `study`, counting judgments as `report` does.

    The page's read of the study's answers, if the view put one in the
    context as `answer_table`, serves the human scores too.
    """
    comparison = benchmark_comparison(
        study,
        include_surplus=report.include_surplus,
        include_excluded=report.include_excluded,
        table=context.get("answer_table"),
    )
    query = context["request"].GET.copy() if "request" in context else {}
    options = {name: query[name] for name in ("surplus", "excluded") if name in query}
    export_query = "&".join(f"{name}={value}" for name, value in options.items())
    return {"study": study, "comparison": comparison, "min_models": MIN_MODELS, "export_query": export_query}
