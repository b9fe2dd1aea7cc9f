"""Benign: a document tree gains parent back-references (reference cycles).

A template renderer builds a node tree per page. ``before`` links children to their
parent through ``weakref``; ``after`` uses plain references, so every page leaves a
cyclic structure behind that only the cycle collector frees. Nothing is retained after a
collection, so there is no growth; the peak is about the same.
"""

from __future__ import annotations

import weakref

from . import Pair, Unit

SECTIONS = 60
ITEMS = 40


class Node:
    __slots__ = ("__weakref__", "_parent", "children", "tag", "text")

    def __init__(self, tag: str, text: str, parent: Node | None, weak: bool) -> None:
        self.tag = tag
        self.text = text
        self.children: list[Node] = []
        self._parent: object = None
        if parent is not None:
            self._parent = weakref.ref(parent) if weak else parent
            parent.children.append(self)

    def depth(self) -> int:
        level, node = 0, self._parent
        while node is not None:
            level += 1
            parent = node() if isinstance(node, weakref.ref) else node
            node = parent._parent  # type: ignore[union-attr]
        return level


class PageRenderer:
    def __init__(self, weak_parents: bool) -> None:
        self._weak = weak_parents

    def _build(self) -> Node:
        root = Node("html", "", None, self._weak)
        body = Node("body", "", root, self._weak)
        for s in range(SECTIONS):
            section = Node("section", f"Section {s}", body, self._weak)
            for i in range(ITEMS):
                Node("li", f"item {s}.{i}: lorem ipsum dolor sit amet", section, self._weak)
        return root

    def _render(self, node: Node, out: list[str]) -> None:
        indent = "  " * node.depth()
        out.append(f"{indent}<{node.tag}>{node.text}")
        for child in node.children:
            self._render(child, out)
        out.append(f"{indent}</{node.tag}>")

    def __call__(self) -> int:
        out: list[str] = []
        self._render(self._build(), out)
        return len("\n".join(out))


def before() -> Unit:
    return PageRenderer(weak_parents=True)


def after() -> Unit:
    return PageRenderer(weak_parents=False)


PAIR = Pair(
    name="cyclic_garbage",
    kind="benign",
    expected=("pass", "improved"),
    reason=None,
    summary="template tree: weakref parents -> strong parents (cycles freed by gc)",
    before=before,
    after=after,
    iterations=50,
    warmup=10,
)
