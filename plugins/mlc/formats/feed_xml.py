"""Reading a customer's XML export (a Stampli XML template) through a feed configuration: the same rows,
checks, audit and error reports as its CSV exports, with element paths where a CSV feed names headers.

The feed says ``format: xml``, the path of each row's element from the document's root (``row_path:
Invoice/Lines/Line``: one row per line) and, for each canonical column, a path from the row's element:
``Amount`` (a child), ``Account/Code`` (deeper), ``../../InvoiceNumber`` (an ancestor's child: the invoice's
fields on each of its lines), ``@currency`` (an attribute). Namespaces are ignored (local names match).

The file is read as a stream, one element under the root at a time (an invoice with its lines), so memory
follows the largest invoice, never the file. The parser resolves no entity, loads no DTD and reaches no
network; a file with a DOCTYPE is refused as a whole (nothing in an export needs one, and it is how entity
bombs come in), as is a file that is not well-formed XML: no row of either is posted. A row is numbered by
the line its element begins on, so an error report names the line to look at.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import IO

from lxml import etree

from mlc.formats.feed import FeedConfig, FeedRow, FeedSchemaError, RowError

Getter = Callable[[etree._Element], str]


def _local(tag: object) -> str:
    return etree.QName(tag).localname if isinstance(tag, str) else ""


def compile_path(path: str) -> Getter:
    """A function giving the text at ``path`` from a row element ("" when absent)."""
    steps = [s for s in path.strip().split("/") if s not in ("", ".")]

    def get(element: etree._Element) -> str:
        node: etree._Element | None = element
        for i, step in enumerate(steps):
            if node is None:
                return ""
            if step == "..":
                node = node.getparent()
            elif step.startswith("@"):
                return (node.get(step[1:]) or "").strip() if i == len(steps) - 1 else ""
            else:
                node = next((child for child in node if _local(child.tag) == step), None)
        return "" if node is None else "".join(node.itertext()).strip()

    return get


class XmlFeedFile:
    """An XML file opened through a feed: ``header`` (the canonical column names: the error report's columns,
    where a CSV report repeats the file's headers), then :meth:`rows` one at a time."""

    def __init__(self, stream: IO[bytes], config: FeedConfig, name: str) -> None:
        self.config, self.name, self._stream = config, name, stream
        self.header = list(config.columns)
        self._getters = {c: compile_path(p) for c, p in config.columns.items()}
        self._row_path = [s for s in config.row_path.split("/") if s]

    def rows(self) -> Iterator[FeedRow]:
        """Every row element's values; a row missing a required value is a row with ``error`` set."""
        top, below = self._row_path[0], self._row_path[1:]
        parser = etree.iterparse(self._stream, events=("start", "end"), resolve_entities=False, no_network=True,
                                 load_dtd=False, huge_tree=False, remove_comments=True, remove_pis=True)
        depth, checked = 0, False
        try:
            for event, element in parser:
                if event == "start":
                    depth += 1
                    if not checked:
                        checked = True
                        if element.getroottree().docinfo.doctype:
                            raise FeedSchemaError("the file declares a DOCTYPE: an export needs none, and entities "
                                                  "could come in through it, so nothing of the file is posted",
                                                  source=self.name)
                    continue
                depth -= 1
                if depth != 1:
                    continue
                if _local(element.tag) == top:
                    yield from self._rows_of(element, below)
                element.clear(keep_tail=False)  # this invoice is done: keep memory to one invoice at a time
                parent = element.getparent()
                while parent is not None and len(parent) and parent[0] is not element:
                    del parent[0]
        except etree.XMLSyntaxError as exc:
            raise FeedSchemaError(f"not well-formed XML at line {exc.lineno}: {exc.msg}; a reader cannot trust "
                                  "what follows, so no row of this file is posted; export the file again",
                                  source=self.name) from None
        if not checked:
            raise FeedSchemaError("the file is empty (no root element)", source=self.name)

    def _rows_of(self, element: etree._Element, below: list[str]) -> Iterator[FeedRow]:
        found = [element]
        for step in below:
            found = [child for node in found for child in node if _local(child.tag) == step]
        for row_element in found:
            values = {name: get(row_element) for name, get in self._getters.items()}
            row = FeedRow(row_element.sourceline or 0, values, [values[c] for c in self.config.columns])
            empty = [name for name in self.config.required if not values.get(name)]
            if empty:
                row.error = RowError(f"required value missing ({self.config.columns[empty[0]]!r})", row=row.number,
                                     field=empty[0])
            yield row
