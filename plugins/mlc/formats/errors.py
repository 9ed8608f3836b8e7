"""Errors of the formats library: each names where the problem is, so a person can fix the input."""

from __future__ import annotations


class FormatError(ValueError):
    """Base class: a file or record that this library cannot write or read as asked."""


class RenderError(FormatError):
    """A record cannot be rendered: names the record (1-based) and the field, and why."""

    def __init__(self, message: str, *, record: int | None = None, field: str | None = None,
                 key: str | None = None) -> None:
        where = []
        if record is not None:
            where.append(f"record {record}")
        if key:
            where.append(f"({key})")
        if field:
            where.append(f"field {field!r}")
        self.record, self.field, self.key, self.reason = record, field, key, message
        super().__init__(f"{' '.join(where)}: {message}" if where else message)


class ParseError(FormatError):
    """Bytes that are not a well-formed interchange: names the segment (1-based) or offset."""

    def __init__(self, message: str, *, segment: int | None = None, offset: int | None = None) -> None:
        self.segment, self.offset, self.reason = segment, offset, message
        where = f"segment {segment}: " if segment is not None else (f"offset {offset}: " if offset is not None else "")
        super().__init__(f"{where}{message}")


class MappingError(FormatError):
    """A partner mapping that does not match the schema: names the file, the line and what was expected."""

    def __init__(self, message: str, *, source: str | None = None, line: int | None = None) -> None:
        self.source, self.line, self.reason = source, line, message
        where = f"{source}:{line}: " if source and line else (f"{source}: " if source else "")
        super().__init__(f"{where}{message}")
