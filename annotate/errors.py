"""Errors the annotate services raise; views and the admin show their message."""


class AnnotateError(Exception):
    """Base class for errors a user can fix; the message is translated and user-facing."""


class StudyNotReady(AnnotateError):
    """The study cannot be opened as configured."""


class InvalidAnswer(AnnotateError):
    """A submitted judgment is missing an answer or has one out of range."""

    def __init__(self, message, criterion_name=None):
        super().__init__(message)
        self.criterion_name = criterion_name


class InvalidStatusChange(AnnotateError):
    """The study's status does not allow the requested change (say, pausing a draft)."""


class InvalidInvitation(AnnotateError):
    """A pasted list of annotators has bad lines; `errors` holds one message per problem, each naming its line."""

    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = errors


class SkipRejected(AnnotateError):
    """The assignment cannot be skipped: it was already submitted, or the reason is not a valid choice."""


class RevisionRejected(AnnotateError):
    """The judgment cannot be changed: its study is not open, or it is not the annotator's last judgment there."""


class InvalidGold(AnnotateError):
    """A gold item or attention check cannot be saved as given; `field` names the input at fault."""

    def __init__(self, message, field=None):
        super().__init__(message)
        self.field = field


class AnnotatorPaused(AnnotateError):
    """The annotator's work on the study is paused, so they get no new task."""
