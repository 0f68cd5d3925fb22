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
