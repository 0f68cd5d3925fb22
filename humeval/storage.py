"""Static file storage that works before and after collectstatic."""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticFilesStorage(CompressedManifestStaticFilesStorage):
    """Link hashed, compressed files once collectstatic has run, and plain names before.

    WhiteNoise's manifest storage raises for every page until collectstatic
    writes its manifest. Falling back to the plain name lets WhiteNoise serve
    the file from the app folders (WHITENOISE_USE_FINDERS) meanwhile, without
    far-future caching.
    """

    manifest_strict = False

    def hashed_name(self, name, content=None, filename=None):
        try:
            return super().hashed_name(name, content, filename)
        except ValueError:
            # The file is not in STATIC_ROOT yet, because collectstatic has not run.
            return name
