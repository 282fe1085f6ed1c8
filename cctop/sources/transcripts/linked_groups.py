"""Which worker groups must be read together after all.

Worker processes read whole project directories, each group into its own ledger, because
replayed history (resumed, forked sessions) stays inside its project. Not always: the same
call (message id + request id) can sit in two project directories, and two ledgers then
count it twice. Each group reports the hashes of its call ids; groups that share one are
read again as one group, into one ledger, whose dedupe is then global.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence

from cctop.model.records import ApiCall, Record

# Sets request ids' hashes apart from message ids'.
_REQUEST = 0x5EED_F00D_CAFE


def call_key_hashes(records: Iterable[Record], into: set[int]) -> None:
    """Add the hashes of the ids the ledger joins calls on. Python's own string hash: the
    groups are compared within one run by workers forked from one process, which share its
    hash seed (a fifth of the cost of a stable hash). A collision only reads two groups
    together, which gives the same figures."""
    for record in records:
        if type(record) is ApiCall:
            if record.message_id:
                into.add(hash(record.message_id))
            if record.request_id:
                into.add(hash(record.request_id) ^ _REQUEST)


def linked(key_sets: Sequence[Collection[int]]) -> list[list[int]]:
    """Indexes of groups sharing a key, as connected components of two groups or more
    (usually none: then this costs a few set operations)."""
    overlap = Overlap()
    for keys in key_sets:
        overlap.add(keys)
    return overlap.components(key_sets)


class Overlap:
    """``linked`` fed one group at a time (in any order), e.g. as workers finish them."""

    def __init__(self) -> None:
        self._seen: set[int] = set()
        self._shared: set[int] = set()  # keys of two groups or more

    def add(self, keys: Collection[int]) -> None:
        keys = keys if isinstance(keys, (set, frozenset)) else set(keys)
        self._shared |= keys & self._seen
        self._seen |= keys

    def components(self, key_sets: Sequence[Collection[int]]) -> list[list[int]]:
        """``linked(key_sets)``, every one of them added before."""
        shared = self._shared
        if not shared:
            return []
        parent = list(range(len(key_sets)))

        def root(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        owner: dict[int, int] = {}
        for index, keys in enumerate(key_sets):
            for key in shared.intersection(keys):
                first = owner.setdefault(key, index)
                parent[root(index)] = root(first)
        components: dict[int, list[int]] = {}
        for index in range(len(key_sets)):
            components.setdefault(root(index), []).append(index)
        return [c for c in components.values() if len(c) > 1]
