"""The load generator's own accounting: when it says it fell behind or saturated, and
which keys a paced run wrote (the latency bench waits for exactly those)."""

from __future__ import annotations

from cluster.bench.driver import Generated, Work, paced_keys


def test_a_paced_run_that_offered_less_than_asked_says_so() -> None:
    on_time = Generated(acked=2000, seconds=2.0, cpu_s=[0.3, 0.3], sent=[990, 990])
    on_time.target_per_s = 1000
    assert on_time.reached_per_s == 990 and on_time.behind == ""
    late = Generated(acked=1200, seconds=2.0, cpu_s=[0.3, 0.3], sent=[600, 600])
    late.target_per_s = 1000
    assert "offered 600 writes/s of the 1000" in late.behind
    assert late.summary()["offered_per_s"] == 600 and late.summary()["writes"] == 1200


def test_a_generator_process_busy_most_of_a_core_is_saturated() -> None:
    idle = Generated(acked=10_000, seconds=10.0, cpu_s=[2.0, 3.0])
    busy = Generated(acked=10_000, seconds=10.0, cpu_s=[2.0, 9.0])
    assert not idle.saturated and busy.saturated
    assert busy.summary()["generator_cpu_per_write_us"] == 1100
    assert busy.summary()["generator_busiest_core_share"] == 0.9


def test_paced_keys_are_the_requests_each_process_sent() -> None:
    # Two processes: process 0 sent requests 0, 2, 4; process 1 sent 1, 3.
    run = Generated(sent=[3, 2])
    assert paced_keys(Work("p/", 0, 1, 10), run) == [b"p/0", b"p/2", b"p/4", b"p/1", b"p/3"]
    batched = Generated(sent=[4, 2])  # writes: 2 requests of 2, then 1 request of 2
    assert paced_keys(Work("b/", 0, 2, 10), batched) == [
        *(b"b/0.0", b"b/0.1", b"b/2.0", b"b/2.1"),
        *(b"b/1.0", b"b/1.1"),
    ]
