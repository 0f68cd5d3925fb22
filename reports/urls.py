from django.urls import path

from reports import benchmark_views, combined_views, export_views, views

app_name = "reports"
urlpatterns = [
    path("", views.index, name="index"),
    path("combined/", combined_views.combined_report, name="combined"),
    path("combined/combined-report.csv", combined_views.combined_csv, name="combined_csv"),
    path(
        "combined/combined-report.csv.meta.json",
        combined_views.combined_csv_metadata,
        name="combined_csv_metadata",
    ),
    path("studies/<uuid:study_uuid>/", views.study_report, name="study"),
    path("studies/<uuid:study_uuid>/judgments.csv", views.judgments_csv, name="judgments_csv"),
    path(
        "studies/<uuid:study_uuid>/judgments.csv.meta.json",
        views.judgments_csv_metadata,
        name="judgments_csv_metadata",
    ),
    path("studies/<uuid:study_uuid>/gold-judgments.csv", views.gold_judgments_csv, name="gold_judgments_csv"),
    path("studies/<uuid:study_uuid>/rankings.csv", views.rankings_csv, name="rankings_csv"),
    path("studies/<uuid:study_uuid>/rankings.csv.meta.json", views.rankings_csv_metadata, name="rankings_csv_metadata"),
    path("studies/<uuid:study_uuid>/rankings.json", views.rankings_json, name="rankings_json"),
    path(
        "studies/<uuid:study_uuid>/exports/<slug:what>.<slug:file_format>",
        export_views.table_download,
        name="table_download",
    ),
    path(
        "studies/<uuid:study_uuid>/exports/<slug:what>.<slug:file_format>.meta.json",
        export_views.table_metadata,
        name="table_metadata",
    ),
    path("studies/<uuid:study_uuid>/benchmarks.csv", benchmark_views.benchmarks_csv, name="benchmarks_csv"),
    path(
        "studies/<uuid:study_uuid>/benchmarks.csv.meta.json",
        benchmark_views.benchmarks_csv_metadata,
        name="benchmarks_csv_metadata",
    ),
    path(
        "studies/<uuid:study_uuid>/gold-judgments.csv.meta.json",
        views.gold_judgments_csv_metadata,
        name="gold_judgments_csv_metadata",
    ),
]
