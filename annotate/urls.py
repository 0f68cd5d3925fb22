from django.urls import path

from annotate import signup_views, views

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
    path("studies/<uuid:study_uuid>/instructions/", views.instructions, name="instructions"),
    path("studies/<uuid:study_uuid>/tasks/<uuid:assignment_uuid>/skip/", views.skip, name="skip"),
    path("studies/<uuid:study_uuid>/judgments/<uuid:judgment_uuid>/change/", views.revise, name="revise"),
    path(
        "studies/<uuid:study_uuid>/judgments/<uuid:judgment_uuid>/change/submit/",
        views.submit_revision,
        name="submit_revision",
    ),
    path("signup/<str:token>/", signup_views.signup, name="signup"),
    path("signup/<str:token>/join/", signup_views.signup_join, name="signup_join"),
]
