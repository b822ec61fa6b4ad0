"""A newcomer's first day (issue #25), the pure parts: errors about topology text the
tool generated, the argument types of every numeric option, backend wording."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster import argtypes, cli
from cluster.bench import peers
from cluster.commands import processes
from cluster.generated import parse_generated
from cluster.topology import TopologyError, parse_topology

pytestmark = pytest.mark.unit


def test_errors_in_generated_topology_text_name_no_line():
    text = "name: x\nnodes: [a]\nsettings: {linger_ms: -1}\n"
    with pytest.raises(TopologyError) as in_file:
        parse_topology(text, "t.yaml")
    assert str(in_file.value).startswith("t.yaml:3: settings.linger_ms:"), in_file.value
    with pytest.raises(TopologyError) as made:
        parse_generated(text, "cluster init x")
    assert made.value.line is None
    assert str(made.value).startswith("cluster init x: settings.linger_ms:"), made.value


def _actions(parser: argparse.ArgumentParser, where: str) -> Iterator[tuple[str, argparse.Action]]:
    """Every argument of ``parser`` and of its sub-commands, with the verb it belongs to."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for verb, sub in action.choices.items():
                yield from _actions(sub, f"{where} {verb}")
        else:
            yield where, action


PARSERS = [(cli.build_parser(), "cluster"), (peers.build_parser(), "bench-peers")]
NOT_NUMERIC = {None, str, Path, argtypes.key_bytes}  # the only other types a value may have


def test_every_numeric_option_of_every_verb_uses_the_shared_argument_types():
    seen = 0
    for parser, name in PARSERS:
        for verb, action in _actions(parser, name):
            where = f"{verb} {'/'.join(action.option_strings) or action.dest}"
            assert action.type not in (int, float), f"{where}: a raw {action.type.__name__}"
            assert action.type in argtypes.NUMERIC | NOT_NUMERIC, f"{where}: {action.type}"
            default = action.default
            if isinstance(default, (int, float)) and not isinstance(default, bool):
                assert action.type in argtypes.NUMERIC, f"{where}: numeric default, no type"
            seen += action.type in argtypes.NUMERIC
    assert seen >= 30, seen  # the walk did reach the verbs (converge, delay, bench, ...)


@pytest.mark.parametrize(
    ("parse", "text"),
    [
        (argtypes.seconds, "nan"),
        (argtypes.seconds, "-1"),
        (argtypes.seconds, "inf"),
        (argtypes.seconds, "1e9"),
        (argtypes.non_negative_int, "-5"),
        (argtypes.positive_int, "1.5"),
        (argtypes.int_range(0, 10), "11"),
        (argtypes.duration, "0s"),
        (argtypes.duration, "9999h"),
    ],
)
def test_a_bad_number_is_an_argparse_error(parse, text):
    with pytest.raises(argparse.ArgumentTypeError):
        parse(text)


def test_the_cli_skew_bound_is_the_nodes():
    from cluster.commands.links import MAX_SKEW_MS
    from node.api.admin import MAX_CLOCK_OFFSET_MS

    assert MAX_SKEW_MS == MAX_CLOCK_OFFSET_MS


@pytest.mark.parametrize(
    ("backend", "paused", "resumed"),
    [
        ("supervisor", "node-c paused (SIGSTOP)", "node-c resumed (SIGCONT)"),
        (
            "docker",
            "node-c paused (the cgroup freezer)",
            "node-c resumed (thawed from the cgroup freezer)",
        ),
    ],
)
def test_pause_and_resume_say_what_the_backend_really_does(
    backend, paused, resumed, monkeypatch, capsys
):
    class Fake:  # a Cluster on that backend, as far as the verb looks
        def __init__(self) -> None:
            self.backend = backend
            self.notes: list[str] = []  # what the verb found and did (none here)

        def pause(self, node: str) -> None: ...

        def resume(self, node: str) -> None: ...

    monkeypatch.setattr(processes, "open_cluster", lambda args: Fake())
    parser = cli.build_parser()
    for verb, said in (("pause", paused), ("resume", resumed)):
        args = parser.parse_args([verb, "node-c"])
        assert args.func(args) == 0
        assert capsys.readouterr().out == said + "\n"
