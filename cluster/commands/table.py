"""The ``status`` table: short by default (fits 100 columns), every detail under ``-v``.

Each column is documented in the README (Using the cluster tool, "The status table").
What a cell leaves out is a note under the table, cut short by default; ``-v`` prints
it whole, and ``--json`` always has every field.
"""

from __future__ import annotations

from collections.abc import Sequence

from cluster.status import NodeView

SKEW_NOTE_MS = 500  # clock offsets worth a line under the table
NOTE_CHARS = 100  # a default note is cut here: every line stays within 100 columns
SHORT = ["NODE", "STATE", "PID", "ADDRESS", "KEYS", "DIGEST", "LINKS", "LAG", "BEHIND"]
VERBOSE = ["NODE", "STATE", "PID", "ADDRESS", "REPLICA", "KEYS", "TOMBS", "LOG", "DIGEST"]
VERBOSE += ["LINKS", "LAG", "BEHIND", "VV"]
LEGEND = (
    "LOG: entries on disk/entries the vv names (the rest truncated); TOMBS: tombstones held; "
    "LAG: entries a subscriber has not acked; BEHIND: entries the most advanced node holds "
    "and this one lacks; VV: seq per current member's origin (+N retired: older incarnations)"
)


def short(origin: str) -> str:
    """An origin for a table: the incarnation cut to 6 hex digits (``--json`` has it all)."""
    name, sep, incarnation = origin.partition("@")
    return name + sep + incarnation[:6]


def judge(rows: Sequence[NodeView]) -> None:
    """Fill each answering row's ``behind`` (entries the most advanced node holds and it
    lacks, over every origin) and ``digest_differs`` (another node holding every entry
    it holds has another digest: two contents for one (origin, seq), docs/integrity.md)."""
    vvs = [r.vv for r in rows if r.vv is not None]
    top: dict[str, int] = {}
    for vv in vvs:
        for o, s in vv.items():
            top[o] = max(top.get(o, 0), s)
    for r in rows:
        if r.vv is not None:
            r.behind = sum(s - r.vv.get(o, 0) for o, s in top.items())
    for r in rows:
        if r.vv is not None:
            r.digest_differs = any(
                o.vv == r.vv and o.digest != r.digest for o in rows if o.vv is not None
            )


def state_cell(r: NodeView) -> str:
    """The process state and, in parentheses, what is wrong with the node (short words)."""
    flags = []
    if r.storage_error:
        flags.append("storage failed")
    if r.error:
        flags.append("error")  # the whole message is a note under the table
    if r.forks:
        flags.append("forked")
    if r.replica_state in ("recovering", "decommissioned", "stale"):
        flags.append(r.replica_state)
    return r.state + (f" ({', '.join(flags)})" if flags else "")


def _links(r: NodeView, verbose: bool) -> str:
    if r.links is None:
        return "-"
    cell = f"{sum(r.links.values())}/{len(r.links)} up"
    down = [p for p, up in r.links.items() if not up]
    return cell + (f" (down: {','.join(down)})" if down and verbose else "")


def _lag(r: NodeView, verbose: bool) -> str:
    if r.lag is None:
        return "-"
    if verbose:
        return ",".join(f"{p}:{n}" for p, n in r.lag.items() if n) or "0"
    return str(max(r.lag.values(), default=0))


def _vv(r: NodeView, current: set[str]) -> str:
    """The seq of each current member's origin; retired incarnations as one count."""
    if r.vv is None:
        return "-"
    cells = [f"{short(o)}:{s}" for o, s in sorted(r.vv.items()) if o in current]
    retired = {o: s for o, s in r.vv.items() if o not in current}
    if retired:
        cells.append(f"+{len(retired)} retired ({sum(retired.values()):,} entries)")
    return " ".join(cells) or "-"


def status_table(rows: Sequence[NodeView], ident: str = "PID", verbose: bool = False) -> str:
    """One line per node; ``ident`` is what the backend calls a process (PID, CONTAINER)."""
    judge(rows)
    current = {r.replica_id for r in rows if r.replica_id}
    head = [ident if h == "PID" else h for h in (VERBOSE if verbose else SHORT)]
    table = [head]
    for r in rows:
        cells = {
            "NODE": r.name,
            "STATE": state_cell(r),
            ident: str(r.pid or r.ident or "-"),
            "ADDRESS": r.address,
            "REPLICA": short(r.replica_id) or "-",
            "KEYS": "-" if r.keys is None else str(r.keys),
            "TOMBS": "-" if r.tombstones is None else str(r.tombstones),
            "LOG": "-" if r.log_held is None else f"{r.log_held}/{r.log_entries}",
            "DIGEST": (r.digest or "-")[: 12 if verbose else 8],
            "LINKS": _links(r, verbose),
            "LAG": _lag(r, verbose),
            "BEHIND": "-" if r.behind is None else str(r.behind),
            "VV": _vv(r, current),
        }
        table.append([cells[h] for h in head])
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in table
    )


CUT = " ... "
CUT_HINT = "(notes cut short in the middle: `cluster status -v` prints them whole)"


def _cut(text: str, verbose: bool) -> str:
    """One line; past NOTE_CHARS its middle goes (the reason is usually at the end)."""
    text = " ".join(text.split())
    if verbose or len(text) <= NOTE_CHARS:
        return text
    head = 36  # the node and what failed; the rest is the end, where the reason is
    return text[:head] + CUT + text[-(NOTE_CHARS - len(CUT) - head) :]


def notes(rows: Sequence[NodeView], verbose: bool = False) -> list[str]:
    """Lines under the table: what a cell leaves out. Errors, storage failures, skewed
    clocks, refused links, forks, digests that differ, recovery, truncation held back and
    snapshots under way; with ``verbose`` whole, with every link error and last snapshot."""
    judge(rows)
    out = []
    for r in rows:
        if r.error:
            out.append(_cut(f"{r.name}: {r.error}", verbose))
        if r.storage_error:
            out.append(_cut(f"{r.name}: storage failed: {r.storage_error}", verbose))
        for peer, ms in sorted((r.clock_offset_ms or {}).items()):
            if abs(ms) > SKEW_NOTE_MS:
                out.append(f"clock: {r.name} sees {peer} {ms:+,} ms")
        for peer, why in sorted((r.link_errors or {}).items()):
            if verbose or why.startswith(("refused", "clock skew", "cannot store")):
                out.append(_cut(f"link {peer}>{r.name}: {why}", verbose))
        out += [_cut(f"{r.name}: {line}", verbose) for line in r.forks or []]
        if r.digest_differs and not r.forks:
            out.append(
                f"{r.name}: same vv as another node, other digest: two contents for one "
                f"(origin, seq)? (docs/integrity.md)"
            )
        if r.replica_state == "recovering":
            out.append(_cut(f"{r.name}: recovering ({r.replica_reason or 'asking its peers'})",
                            verbose))  # fmt: skip
        elif r.replica_state == "stale":
            out.append(_cut(f"{r.name}: stale data, serves nothing: {r.replica_reason}", verbose))
        for pin in r.pins or []:
            how = "connected" if pin["open"] else "down"
            out.append(
                f"truncation: {r.name} holds {short(pin['origin'])}'s log past seq {pin['acked']} "
                f"for {pin['peer']} ({how}, last ack {pin['since_s']:.0f}s ago)"
            )
        if r.snapshot.startswith(("sending", "receiving")) or (verbose and r.snapshot):
            out.append(f"snapshot: {r.name} {r.snapshot}")
    if not verbose and any(CUT in line for line in out):
        out.append(CUT_HINT)
    return out


def pack(head: str, items: Sequence[str], sep: str = ", ", width: int = 100) -> list[str]:
    """``head`` then ``items`` on as few lines as fit ``width`` (an item is never split;
    the lines after the first are indented)."""
    lines, line = [], head
    for i, item in enumerate(items):
        piece = item + (sep if i < len(items) - 1 else "")
        if len(line) + len(piece.rstrip()) > width and line.strip():
            lines.append(line.rstrip())
            line = "  "
        line += piece
    lines.append(line.rstrip())
    return lines


def wrap(text: str) -> str:
    """A line of words within 100 columns (the lines after the first indented)."""
    return "\n".join(pack("", text.split(" "), sep=" "))
