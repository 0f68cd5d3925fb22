import pytest

from humeval import login_throttle


class FakeClock:
    """A clock for login_throttle that moves only when a test advances it."""

    def __init__(self, start: float):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch, settings):
    """Replace login_throttle's clock; it starts at the beginning of a counting window."""
    fake = FakeClock(start=settings.LOGIN_FAILURE_WINDOW * 2_000_000)
    monkeypatch.setattr(login_throttle, "clock", fake)
    return fake
