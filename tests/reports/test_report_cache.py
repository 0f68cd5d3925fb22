"""The report page serves a cached report until the study's data or the page's options change."""

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.urls import reverse

from annotate.models import AnnotatorStatus, Judgment
from reports import answer_table, benchmarks, report_cache
from tests.factories import make_user
from tests.reports.builders import judge


@pytest.fixture
def staff(db):
    """A site admin, who may read every study's report."""
    return get_user_model().objects.create_superuser("report-admin", password="pw-for-tests")


@pytest.fixture
def computed(monkeypatch):
    """Record each report the cache computes; the computation itself runs as usual."""
    calls = []
    build = report_cache.build_study_report

    def recording_build(study, **options):
        calls.append(options)
        return build(study, **options)

    monkeypatch.setattr(report_cache, "build_study_report", recording_build)
    cache.clear()
    yield calls
    cache.clear()


def _view(client, study, query=""):
    response = client.get(reverse("reports:study", args=[study.uuid]) + query)
    assert response.status_code == 200
    return response


def test_second_view_uses_cache(client, staff, tiny_pairwise, computed):
    client.force_login(staff)

    first = _view(client, tiny_pairwise.study)
    second = _view(client, tiny_pairwise.study)

    assert len(computed) == 1
    assert first.context["report"].totals.judgments == second.context["report"].totals.judgments


def test_new_judgment_recomputes(client, staff, tiny_pairwise, computed):
    client.force_login(staff)
    before = _view(client, tiny_pairwise.study).context["report"].totals.judgments

    judge(tiny_pairwise.items[2], tiny_pairwise.annotators[2], {"overall": "first"})
    after = _view(client, tiny_pairwise.study).context["report"].totals.judgments

    assert len(computed) == 2
    assert after == before + 1


def test_exclusion_recomputes(client, staff, tiny_pairwise, computed):
    client.force_login(staff)
    annotator = tiny_pairwise.annotators[0]
    status = AnnotatorStatus.objects.create(study=tiny_pairwise.study, annotator=annotator)
    _view(client, tiny_pairwise.study)

    # The admin's bulk action changes statuses with QuerySet.update, which leaves updated_at alone.
    AnnotatorStatus.objects.filter(pk=status.pk).update(is_excluded=True)
    excluded = _view(client, tiny_pairwise.study).context["report"]
    AnnotatorStatus.objects.filter(pk=status.pk).update(is_excluded=False)
    included = _view(client, tiny_pairwise.study).context["report"]

    # Back to the data of the first view, so its cached report serves again.
    assert len(computed) == 2
    assert excluded.totals.excluded > 0
    assert included.totals.excluded == 0


def test_revision_recomputes(client, staff, tiny_pairwise, computed):
    client.force_login(staff)
    _view(client, tiny_pairwise.study)

    judgment = Judgment.objects.filter(item__study=tiny_pairwise.study).first()
    Judgment.objects.filter(pk=judgment.pk).update(revised_at=judgment.created_at)
    _view(client, tiny_pairwise.study)

    assert len(computed) == 2


def test_options_keyed_apart(client, staff, tiny_pairwise, computed):
    client.force_login(staff)

    _view(client, tiny_pairwise.study)
    _view(client, tiny_pairwise.study, "?surplus=include")
    _view(client, tiny_pairwise.study, "?surplus=include")
    _view(client, tiny_pairwise.study, "?category=writing")
    _view(client, tiny_pairwise.study, "?category=writing")

    assert [options["include_surplus"] for options in computed] == [False, True, False]


def test_service_recomputes_after_judgment(client, staff, tiny_pairwise, computed):
    client.force_login(staff)
    other_annotator = make_user()
    _view(client, tiny_pairwise.study)

    report = report_cache.cached_study_report(tiny_pairwise.study)
    judge(tiny_pairwise.items[0], other_annotator, {"overall": "second"})
    fresh = report_cache.cached_study_report(tiny_pairwise.study)

    assert len(computed) == 3
    assert fresh.totals.judgments == report.totals.judgments + 1


def test_benchmark_scores_cached(client, staff, tiny_pairwise, monkeypatch):
    # The benchmark table beside the report reuses its ratings until a judgment changes them.
    calls = []
    human_scores = benchmarks._human_scores

    def recording_human_scores(study, counted, table):
        calls.append(counted)
        return human_scores(study, counted, table)

    monkeypatch.setattr(benchmarks, "_human_scores", recording_human_scores)
    cache.clear()
    client.force_login(staff)

    _view(client, tiny_pairwise.study)
    _view(client, tiny_pairwise.study)
    judge(tiny_pairwise.items[2], tiny_pairwise.annotators[2], {"overall": "first"})
    _view(client, tiny_pairwise.study)
    cache.clear()

    assert len(calls) == 2


def test_first_view_reads_answers_once(client, staff, tiny_pairwise, monkeypatch):
    # The report, the breakdown links and the benchmark table share one read of the answers.
    reads = []
    load = answer_table._load_judgments

    def recording_load(study, items):
        reads.append(study.pk)
        return load(study, items)

    monkeypatch.setattr(answer_table, "_load_judgments", recording_load)
    cache.clear()
    client.force_login(staff)

    _view(client, tiny_pairwise.study)
    _view(client, tiny_pairwise.study)
    cache.clear()

    assert reads == [tiny_pairwise.study.pk]


def test_page_view_fingerprints_once(client, staff, tiny_pairwise, computed, monkeypatch):
    # The page looks up several cached figures, and the fingerprint reads every judgment.
    fingerprints = []
    fingerprint = report_cache.data_fingerprint

    def recording_fingerprint(study):
        fingerprints.append(study.pk)
        return fingerprint(study)

    monkeypatch.setattr(report_cache, "data_fingerprint", recording_fingerprint)
    client.force_login(staff)

    before = _view(client, tiny_pairwise.study).context["report"].totals.judgments
    per_view = len(fingerprints)
    judge(tiny_pairwise.items[2], tiny_pairwise.annotators[2], {"overall": "first"})
    after = _view(client, tiny_pairwise.study).context["report"].totals.judgments

    # A judgment stored between two views still renews the key.
    assert per_view == 1
    assert fingerprints == [tiny_pairwise.study.pk] * 2
    assert len(computed) == 2
    assert after == before + 1
