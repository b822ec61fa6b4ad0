import pytest

from cluster.wait import WaitTimeout, wait_for

pytestmark = pytest.mark.unit


def test_returns_the_first_truthy_result():
    calls = iter([0, None, "ready"])
    assert wait_for(lambda: next(calls), 1, "it") == "ready"


def test_timeout_says_what_was_awaited_and_the_last_error():
    def check():
        raise ValueError("not yet")

    with pytest.raises(WaitTimeout, match="waiting for the thing .*last error: not yet"):
        wait_for(check, 0.1, "the thing")


def test_fatal_errors_propagate_at_once():
    class Dead(Exception):
        pass

    def check():
        raise Dead("exited")

    with pytest.raises(Dead):
        wait_for(check, 30, "never", fatal=(Dead,))
