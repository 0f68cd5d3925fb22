from django.urls import path

from annotate import views

app_name = "annotate"
urlpatterns = [
    path("", views.home, name="home"),
    path("studies/<uuid:study_uuid>/next/", views.next_task, name="next_task"),
    path("studies/<uuid:study_uuid>/tasks/<uuid:assignment_uuid>/", views.task, name="task"),
    path(
        "studies/<uuid:study_uuid>/tasks/<uuid:assignment_uuid>/submit/",
        views.submit,
        name="submit",
    ),
]
