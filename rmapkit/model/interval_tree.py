"""Interval trees keyed on page-offset ranges: the anon_vma rb_root and i_mmap.

Mirrors mm/interval_tree.c (``anon_vma_interval_tree_*``, ``vma_interval_tree_*``): each
node is keyed on the inclusive range ``[start_pgoff, last_pgoff]`` of its VMA and a query
for ``[first, last]`` yields every node whose range overlaps it.

The kernel augments an rbtree with the subtree's maximum ``last``.  We keep the nodes in a
``SortedKeyList`` by ``(start, last, serial)`` and the multiset of interval lengths in a
``SortedList``: a node overlapping ``[first, last]`` must start in
``[first - longest + 1, last]``, so a query is a range scan of that window.  Cost: insert and
remove O(log n); query O(log n + m) where m counts nodes starting inside the window, which is
the k overlapping nodes when ranges do not nest (the usual anon_vma shape).
"""

from sortedcontainers import SortedKeyList, SortedList

__all__ = ["IntervalTree"]


class IntervalTree:
    """A set of nodes, each with an inclusive ``[start, last]`` key captured at insert time."""

    def __init__(self):
        self._nodes = SortedKeyList(key=lambda e: (e[0], e[1], e[2]))
        self._lengths = SortedList()
        self._where = {}          # node -> entry, so remove() needs no key recomputation
        self._serial = 0

    def __len__(self):
        return len(self._nodes)

    def __bool__(self):
        return bool(self._nodes)

    def __contains__(self, node):
        return node in self._where

    def insert(self, node, start, last):
        """Insert ``node`` keyed ``[start, last]``.  O(log n)."""
        if node in self._where:
            raise ValueError("node already in the tree")
        self._serial += 1
        entry = (start, last, self._serial, node)
        self._nodes.add(entry)
        self._lengths.add(last - start + 1)
        self._where[node] = entry

    def remove(self, node):
        """Remove ``node``.  O(log n)."""
        entry = self._where.pop(node)
        self._nodes.remove(entry)
        self._lengths.remove(entry[1] - entry[0] + 1)

    def key(self, node):
        """The ``(start, last)`` key ``node`` was inserted with (for verification). O(1)."""
        e = self._where[node]
        return e[0], e[1]

    def query(self, first, last):
        """Yield nodes overlapping ``[first, last]`` in key order.  O(log n + m)."""
        if not self._nodes:
            return
        lo = first - self._lengths[-1] + 1
        for s, l, _, node in self._nodes.irange_key((lo, -1, 0), (last, float("inf"), 0)):
            if l >= first:
                yield node

    def __iter__(self):
        """All nodes in key order.  O(n)."""
        return (e[3] for e in self._nodes)

    def items(self):
        """``(start, last, node)`` in key order.  O(n)."""
        return [(e[0], e[1], e[3]) for e in self._nodes]
