from django.urls import path

from reports import views

app_name = "reports"
urlpatterns = [
    path("", views.index, name="index"),
    path("studies/<uuid:study_uuid>/", views.study_report, name="study"),
    path("studies/<uuid:study_uuid>/judgments.csv", views.judgments_csv, name="judgments_csv"),
    path(
        "studies/<uuid:study_uuid>/judgments.csv.meta.json",
        views.judgments_csv_metadata,
        name="judgments_csv_metadata",
    ),
]
