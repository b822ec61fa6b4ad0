import pytest

from node.clock import HLC, LOGICAL_MASK, pack, unpack

pytestmark = pytest.mark.unit


class FakeTime:
    def __init__(self, ms: int) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


def test_pack_roundtrip():
    assert unpack(pack(123456789, 42)) == (123456789, 42)


def test_now_is_strictly_increasing_when_time_stands_still():
    t = FakeTime(1000)
    c = HLC(physical=t)
    stamps = [c.now() for _ in range(5)]
    assert stamps == sorted(set(stamps))
    assert unpack(stamps[-1]) == (1000, 4)


def test_now_follows_physical_time_and_resets_counter():
    t = FakeTime(1000)
    c = HLC(physical=t)
    c.now()
    c.now()
    t.ms = 2000
    assert unpack(c.now()) == (2000, 0)


def test_never_runs_backwards_when_wall_clock_does():
    t = FakeTime(5000)
    c = HLC(physical=t)
    first = c.now()
    t.ms = 1000
    assert c.now() > first


def test_observe_moves_past_a_remote_timestamp_from_the_future():
    t = FakeTime(1000)
    c = HLC(physical=t)
    remote = pack(9000, 7)
    c.observe(remote)
    assert c.now() > remote  # a write after seeing another wins over it


def test_observe_of_older_timestamp_changes_nothing():
    t = FakeTime(5000)
    c = HLC(physical=t)
    now = c.now()
    c.observe(pack(10, 0))
    assert c.last == now


def test_counter_overflow_borrows_next_millisecond():
    t = FakeTime(1000)
    c = HLC(last=pack(1000, LOGICAL_MASK), physical=t)
    ms, counter = unpack(c.now())
    assert (ms, counter) == (1001, 0)


def test_a_timestamp_past_the_end_of_time_is_refused_and_changes_nothing():
    from node.clock import MAX_HLC, ClockError

    t = FakeTime(1000)
    c = HLC(physical=t)
    before = c.now()
    for bad in (MAX_HLC + 1, 2**64 - 1, -1):
        with pytest.raises(ClockError):
            c.observe(bad)
    assert c.last == before and c.now() > before


def test_the_clock_refuses_to_wrap_at_its_last_millisecond():
    from node.clock import MAX_HLC, MAX_PHYSICAL, ClockError

    c = HLC(last=MAX_HLC, physical=FakeTime(MAX_PHYSICAL))
    with pytest.raises(ClockError, match="2\\^48"):
        c.now()
    assert c.last == MAX_HLC  # no wrap to a small value that would lose every LWW race
