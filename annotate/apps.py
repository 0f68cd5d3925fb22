from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AnnotateConfig(AppConfig):
    name = "annotate"
    verbose_name = _("Annotation")

    def ready(self):
        from annotate.audit import on_deleted_in_admin
        from generation.signals import deleted_in_admin

        # Record deletions made in the generation admin in the audit log.
        deleted_in_admin.connect(on_deleted_in_admin, dispatch_uid="annotate.audit.deleted_in_admin")
