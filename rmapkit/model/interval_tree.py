"""Interval trees keyed on page-offset ranges: the anon_vma rb_root and i_mmap.

Mirrors mm/interval_tree.c (``anon_vma_interval_tree_*``, ``vma_interval_tree_*``): each
node is keyed on the inclusive range ``[start_pgoff, last_pgoff]`` of its VMA and a query
for ``[first, last]`` yields every node whose range overlaps it.

The kernel augments an rbtree with the subtree's maximum ``last``.  We keep the nodes sorted
as ``(start, last, serial, node)`` (a plain list while the tree holds at most 1,024 nodes,
where one C-level insort or delete beats a SortedList call and most anon_vmas stay; a
``SortedList`` beyond) and track the longest interval: a node
overlapping ``[first, last]`` must start in ``[first - longest + 1, last]``, so a query is a
range scan of that window.  The longest length comes from a count per length and a heap
of lengths, stale entries dropped when they reach the top and the heap rebuilt when they
outnumber the live ones.  Cost: insert and remove O(log n) (amortized for the heap);
query O(log n + m) where m counts nodes starting inside the window, which is the k
overlapping nodes when ranges do not nest (the usual anon_vma shape).
"""

from bisect import bisect_left, bisect_right, insort
from heapq import heapify, heappop, heappush

from sortedcontainers import SortedList

__all__ = ["IntervalTree"]

_LIST_MAX = 1024                 # nodes kept in a plain list up to this many


class IntervalTree:
    """A set of nodes, each with an inclusive ``[start, last]`` key captured at insert time."""

    def __init__(self):
        self._nodes = []              # (start, last, serial, node); serial breaks ties
        self._count = {}              # interval length -> nodes of that length
        self._heap = []               # -length for every live length (and stale ones)
        self._where = {}              # node -> entry, so remove() needs no key recomputation
        self._serial = 0

    # The dict answers size questions in C; SortedList.__len__ is a Python method.
    def __len__(self):
        return len(self._where)

    def __bool__(self):
        return bool(self._where)

    def __contains__(self, node):
        return node in self._where

    def insert(self, node, start, last):
        """Insert ``node`` keyed ``[start, last]``.  O(log n)."""
        if node in self._where:
            raise ValueError("node already in the tree")
        self._serial += 1
        entry = (start, last, self._serial, node)
        nodes = self._nodes
        if nodes.__class__ is list:
            insort(nodes, entry)
            if len(nodes) > _LIST_MAX:
                self._nodes = SortedList(nodes)
        else:
            nodes.add(entry)
        self._where[node] = entry
        length = last - start + 1
        count = self._count
        n = count.get(length)
        if n:
            count[length] = n + 1
            return
        count[length] = 1
        heap = self._heap
        if len(heap) > 2 * len(count) + 16:      # mostly stale: rebuild, O(1) amortized
            heap[:] = [-x for x in count]
            heapify(heap)
        else:
            heappush(heap, -length)

    def remove(self, node):
        """Remove ``node``.  O(log n)."""
        entry = self._where.pop(node)
        nodes = self._nodes
        if nodes.__class__ is list:
            del nodes[bisect_left(nodes, entry)]
        else:
            nodes.remove(entry)
            if len(nodes) < _LIST_MAX // 4:
                self._nodes = list(nodes)
        length = entry[1] - entry[0] + 1
        count = self._count
        n = count[length]
        if n == 1:
            del count[length]                     # its heap entry goes stale
        else:
            count[length] = n - 1

    def longest(self):
        """The length of the longest interval (0 when empty).  O(1) amortized."""
        heap, count = self._heap, self._count
        while heap and -heap[0] not in count:
            heappop(heap)
        return -heap[0] if heap else 0

    def key(self, node):
        """The ``(start, last)`` key ``node`` was inserted with (for verification). O(1)."""
        e = self._where[node]
        return e[0], e[1]

    def query(self, first, last):
        """Yield nodes overlapping ``[first, last]`` in key order.  O(log n + m)."""
        if not self._where:
            return
        lo = first - self.longest() + 1
        nodes = self._nodes
        if nodes.__class__ is list:
            window = nodes[bisect_left(nodes, (lo,)):bisect_right(nodes, (last, float("inf")))]
        else:
            window = nodes.irange((lo,), (last, float("inf")))
        for s, l, _, node in window:
            if l >= first:
                yield node

    def __iter__(self):
        """All nodes in key order.  O(n)."""
        return (e[3] for e in self._nodes)

    def items(self):
        """``(start, last, node)`` in key order.  O(n)."""
        return [(e[0], e[1], e[3]) for e in self._nodes]
