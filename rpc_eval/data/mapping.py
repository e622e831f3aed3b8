"""Import mappings: how the columns of a delivered file feed the tables of the data model.

A mapping is a YAML file (documented in ``docs/deliveries.md``; a complete example is
``docs/examples/wide_delivery_mapping.yaml``). It says which column of the delivery
feeds which ``table.column``, how labels become codes, how dates are written, which
column suffixes are which questionnaire wave and how the item columns of each
questionnaire are named. :func:`load_mapping` reads and checks it against the data
model, the codebooks and the instrument definitions; every mistake is reported with
the mapping file's line, as analysis plans are (:mod:`rpc_eval.plan`).

>>> import tempfile, pathlib
>>> path = pathlib.Path(tempfile.mkdtemp()) / "m.yaml"
>>> _ = path.write_text("tables:\\n  parents:\\n    parent_id: ID\\n    colour: C\\n")
>>> load_mapping(path)  # doctest: +ELLIPSIS
Traceback (most recent call last):
rpc_eval.data.mapping.MappingError: m.yaml line 4: 'colour' is not a column of the parents table (columns: parent_id, family_id, ...)
"""

from __future__ import annotations

import re
from collections.abc import Mapping as TMapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from rpc_eval.data.codebooks import Codebook, load_codebooks
from rpc_eval.data.model import schema
from rpc_eval.errors import RpcEvalError
from rpc_eval.instruments import Registry, default_registry

__all__ = ["ColumnMap", "DeliveryMapping", "InstrumentMap", "MappingError", "load_mapping",
           "DATE_FORMATS", "IMPORTED_TABLES"]

#: Date formats a mapping may name, and the strptime format of each.
DATE_FORMATS = {
    "DD/MM/YYYY": "%d/%m/%Y", "MM/DD/YYYY": "%m/%d/%Y", "YYYY-MM-DD": "%Y-%m-%d",
    "DD-MM-YYYY": "%d-%m-%Y", "DD.MM.YYYY": "%d.%m.%Y", "YYYY/MM/DD": "%Y/%m/%d",
}
#: Tables a delivery can feed column by column (responses come from ``questionnaires``).
IMPORTED_TABLES = ("las", "interventions", "parents")
_TOP = {"description", "date_format", "missing_values", "ignore", "sheet", "tables",
        "questionnaires"}
_COLUMN_KEYS = {"column", "labels", "value"}
_Q_KEYS = {"respondent", "waves", "completed_date", "instruments"}
_I_KEYS = {"items", "columns", "completed_date", "respondent"}
_PLACEHOLDER = re.compile(r"\{([a-z_]+)(?::[^}]*)?\}")


class MappingError(RpcEvalError):
    """An import mapping is malformed or does not fit the delivery; names file and line."""


@dataclass
class ColumnMap:
    """Where one column of a table comes from: a delivery ``column`` or a constant
    ``value``; ``labels`` is ``"codebook"`` or a label -> code dict (or None)."""

    table: str
    target: str
    column: str | None
    value: str | None
    labels: str | dict[str, str] | None
    line: int


@dataclass
class InstrumentMap:
    """Item columns of one questionnaire: ``(item id, column pattern, line)`` per item
    (patterns use ``{wave}``), its completed-date pattern and respondent."""

    name: str
    items: list[tuple[str, str, int]]
    completed_date: str | None
    respondent: str
    line: int
    pattern_line: int | None = None


@dataclass
class DeliveryMapping:
    """A checked import mapping (see :func:`load_mapping`)."""

    path: Path
    date_format: str
    missing_values: tuple[str, ...]
    ignore: tuple[str, ...]
    sheet: str | None
    tables: dict[str, dict[str, ColumnMap]]
    table_lines: dict[str, int]
    waves: dict[str, str] = field(default_factory=dict)
    wave_line: int | None = None
    instruments: list[InstrumentMap] = field(default_factory=list)
    completed_date_line: int | None = None
    lines: dict[str, int] = field(default_factory=dict)

    def where(self, line: int | None) -> str:
        """``mapping.yaml line N`` for messages."""
        return self.path.name + (f" line {line}" if line else "")


class _Reader:
    def __init__(self, path: Path, books: TMapping[str, Codebook], registry: Registry):
        self.path, self.books, self.registry = path, books, registry

    def fail(self, node: yaml.Node, message: str) -> MappingError:
        return MappingError(f"{self.path.name} line {node.start_mark.line + 1}: {message}")

    @staticmethod
    def line(node: yaml.Node) -> int:
        return node.start_mark.line + 1

    def items(self, node: yaml.Node, what: str, allowed: set[str] | None = None
              ) -> list[tuple[str, yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(node, f"{what} must be a mapping (key: value lines)")
        seen: set[str] = set()
        out = []
        for k, v in node.value:
            key = str(k.value)
            if allowed is not None and key not in allowed:
                raise self.fail(k, f"unknown key {key!r} in {what} (allowed: "
                                f"{', '.join(sorted(allowed))})")
            if key in seen:
                raise self.fail(k, f"{key!r} appears twice in {what}")
            seen.add(key)
            out.append((key, k, v))
        return out

    def text(self, node: yaml.Node, what: str) -> str:
        if not isinstance(node, yaml.ScalarNode) or node.value == "" or node.tag.endswith("null"):
            raise self.fail(node, f"{what} must be a single value (text)")
        return str(node.value)

    def text_list(self, node: yaml.Node, what: str) -> tuple[str, ...]:
        if isinstance(node, yaml.ScalarNode):
            return (self.text(node, what),)
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(node, f"{what} must be a list")
        return tuple(self.text(n, what) for n in node.value)

    # -- tables ------------------------------------------------------------------------
    def column(self, table: str, target: str, node: yaml.Node, spec: dict) -> ColumnMap:
        line = self.line(node)
        if isinstance(node, yaml.ScalarNode):
            return ColumnMap(table, target, self.text(node, f"{table}.{target}"), None, None,
                             line)
        parts = dict((k, v) for k, _, v in self.items(node, f"{table}.{target}", _COLUMN_KEYS))
        if ("column" in parts) == ("value" in parts):
            raise self.fail(node, f"{table}.{target} needs either 'column' (a column of the "
                            "delivery) or 'value' (the same value for every row)")
        column = self.text(parts["column"], "column") if "column" in parts else None
        value = self.text(parts["value"], "value") if "value" in parts else None
        labels = None
        if "labels" in parts:
            if spec["type"] != "code":
                raise self.fail(parts["labels"], f"{table}.{target} is not a coded column, "
                                "so it takes no labels")
            labels = self.labels(parts["labels"], spec["codebook"], f"{table}.{target}")
        if value is not None and spec["type"] == "code":
            self.check_code(parts["value"], value, spec["codebook"])
        return ColumnMap(table, target, column, value, labels, line)

    def check_code(self, node: yaml.Node, code: str, book: str) -> None:
        codes = self.books[book].codes if book in self.books else []
        if book in self.books and code not in codes:
            raise self.fail(node, f"{code!r} is not a code of the {book} codebook (codes: "
                            f"{', '.join(codes)})")

    def labels(self, node: yaml.Node, book: str, what: str) -> str | dict[str, str]:
        if isinstance(node, yaml.ScalarNode):
            if node.value == "codebook":
                return "codebook"
            raise self.fail(node, f"labels of {what} must be 'codebook' (match the "
                            f"{book} codebook's labels) or a mapping of label: code")
        out: dict[str, str] = {}
        for label, k, v in self.items(node, f"the labels of {what}"):
            code = self.text(v, f"the code for label {label!r}")
            self.check_code(v, code, book)
            if label.strip().lower() in {x.strip().lower() for x in out}:
                raise self.fail(k, f"label {label!r} is given twice (labels are matched "
                                "whatever their capitals)")
            out[label] = code
        return out

    def tables(self, node: yaml.Node) -> tuple[dict[str, dict[str, ColumnMap]], dict[str, int]]:
        spec = schema()
        out: dict[str, dict[str, ColumnMap]] = {}
        lines: dict[str, int] = {}
        for table, k, v in self.items(node, "tables"):
            if table not in IMPORTED_TABLES:
                hint = (" (questionnaire items are mapped under 'questionnaires')"
                        if table == "responses" else "")
                raise self.fail(k, f"{table!r} is not a table a delivery can feed (tables: "
                                f"{', '.join(IMPORTED_TABLES)}){hint}")
            lines[table] = self.line(k)
            cols = spec[table]["columns"]
            out[table] = {}
            for target, ck, cv in self.items(v, f"the {table} table"):
                if target not in cols:
                    raise self.fail(ck, f"{target!r} is not a column of the {table} table "
                                    f"(columns: {', '.join(cols)})")
                out[table][target] = self.column(table, target, cv, cols[target])
            missing = [c for c, s in cols.items() if s["required"] and c not in out[table]]
            if missing:
                raise self.fail(k, f"the {table} table needs column(s) {', '.join(missing)}: "
                                "say which column of the delivery holds each")
        return out, lines

    # -- questionnaires ----------------------------------------------------------------
    def pattern(self, node: yaml.Node, what: str, names: set[str]) -> str:
        text = self.text(node, what)
        used = set(_PLACEHOLDER.findall(text))
        unknown = used - names
        if unknown:
            raise self.fail(node, f"{what} {text!r} uses {{{sorted(unknown)[0]}}}; it may use "
                            + ", ".join("{" + n + "}" for n in sorted(names)))
        if "wave" not in used:
            raise self.fail(node, f"{what} {text!r} must contain {{wave}} (the wave suffix)")
        try:
            text.format(item=1, item_id="x", wave="t1")
        except (ValueError, IndexError, KeyError) as exc:
            raise self.fail(node, f"{what} {text!r} is not a valid pattern ({exc})") from None
        return text

    def questionnaires(self, node: yaml.Node, mapping: DeliveryMapping) -> None:
        parts = {k: (kn, v) for k, kn, v in self.items(node, "questionnaires", _Q_KEYS)}
        for key in ("waves", "instruments"):
            if key not in parts:
                raise self.fail(node, f"questionnaires needs '{key}'")
        respondent = "parent"
        if "respondent" in parts:
            respondent = self.text(parts["respondent"][1], "respondent")
            self.check_code(parts["respondent"][1], respondent, "respondents")
        wave_codes = self.books["waves"].codes
        kn, wn = parts["waves"]
        mapping.wave_line = self.line(kn)
        for suffix, _k, v in self.items(wn, "waves"):
            code = self.text(v, f"the wave of suffix {suffix!r}")
            if code not in wave_codes:
                raise self.fail(v, f"{code!r} is not a wave (waves: {', '.join(wave_codes)})")
            if code in mapping.waves.values():
                raise self.fail(v, f"wave {code!r} is given to two suffixes")
            mapping.waves[suffix] = code
        date = None
        if "completed_date" in parts:
            date = self.pattern(parts["completed_date"][1], "completed_date", {"wave"})
            mapping.completed_date_line = self.line(parts["completed_date"][1])
        kn, inode = parts["instruments"]
        for name, k, v in self.items(inode, "instruments"):
            if name not in self.registry:
                raise self.fail(k, f"unknown instrument {name!r} (instruments: "
                                f"{', '.join(self.registry.available())})")
            mapping.instruments.append(self.instrument(name, k, v, date, respondent))

    def instrument(self, name: str, k: yaml.Node, v: yaml.Node, date: str | None,
                   respondent: str) -> InstrumentMap:
        inst = self.registry.get(name)
        ids = list(inst.items)
        if isinstance(v, yaml.ScalarNode):
            parts = {"items": (k, v)}
        else:
            parts = {key: (kn, vn) for key, kn, vn in self.items(v, f"instrument {name}", _I_KEYS)}
        patterns: dict[str, tuple[str, int]] = {}
        pattern_line = None
        if "items" in parts:
            node = parts["items"][1]
            pat = self.pattern(node, f"the item columns of {name}", {"item", "item_id", "wave"})
            pattern_line = self.line(node)
            for n, item in enumerate(ids, start=1):
                patterns[item] = (_fill_item(pat, n, item), pattern_line)
        if "columns" in parts:
            for item, ik, iv in self.items(parts["columns"][1], f"the columns of {name}"):
                if item not in ids:
                    raise self.fail(ik, f"{item!r} is not an item of {name} (items: "
                                    f"{ids[0]} .. {ids[-1]})")
                pat = self.pattern(iv, f"the column of {item}", {"wave"})
                patterns[item] = (pat, self.line(iv))
        if not patterns:
            raise self.fail(v, f"instrument {name} needs 'items' (a pattern such as "
                            f"'{name}_{{item}}_{{wave}}') or 'columns' (item: column pattern)")
        if "completed_date" in parts:
            date = self.pattern(parts["completed_date"][1], "completed_date", {"wave"})
        if "respondent" in parts:
            respondent = self.text(parts["respondent"][1], "respondent")
            self.check_code(parts["respondent"][1], respondent, "respondents")
        order = [i for i in ids if i in patterns]
        return InstrumentMap(name, [(i, *patterns[i]) for i in order], date, respondent,
                             self.line(k), pattern_line)


def _fill_item(pattern: str, number: int, item_id: str) -> str:
    """The pattern with ``{item}`` (and a format such as ``{item:02d}``) and ``{item_id}``
    filled in, ``{wave}`` left for later."""
    return pattern.replace("{wave}", "\0").format(item=number, item_id=item_id).replace(
        "\0", "{wave}")


def load_mapping(path: str | Path, *, registry: Registry | None = None,
                 codebooks: TMapping[str, Codebook] | None = None) -> DeliveryMapping:
    """Read and check an import mapping.

    Parameters
    ----------
    path : path-like
        The mapping's YAML file.
    registry : Registry, optional
        Questionnaires the mapping may name (default: the package's).
    codebooks : mapping, optional
        Codebooks whose codes labels map to (default: the package's).

    Returns
    -------
    DeliveryMapping

    Raises
    ------
    MappingError
        Unreadable YAML, unknown keys, tables, columns, codes, waves, instruments or
        items, a required column left unmapped, a pattern without ``{wave}``: the
        message names the file and line.
    """
    p = Path(path)
    if not p.is_file():
        raise MappingError(f"no mapping file at {p}")
    try:
        node = yaml.compose(p.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f" line {mark.line + 1}" if mark is not None else ""
        raise MappingError(f"{p.name}{line}: not valid YAML ({getattr(exc, 'problem', exc)})"
                           ) from None
    except UnicodeDecodeError:
        raise MappingError(f"{p.name}: not a text file; save the mapping as UTF-8 text") from None
    if node is None:
        raise MappingError(f"{p.name}: the mapping is empty")
    books = dict(codebooks) if codebooks is not None else dict(load_codebooks())
    reg = registry if registry is not None else default_registry()
    books.setdefault("instruments", Codebook("instruments", "", tuple(
        {"code": n, "label": reg.get(n).title} for n in reg.available())))
    r = _Reader(p, books, reg)
    parts = {k: (kn, v) for k, kn, v in r.items(node, "the mapping", _TOP)}
    if "tables" not in parts:
        raise r.fail(node, "the mapping needs 'tables' (at least the parents table)")
    date_format = "DD/MM/YYYY"
    if "date_format" in parts:
        date_format = r.text(parts["date_format"][1], "date_format")
        if date_format not in DATE_FORMATS:
            raise r.fail(parts["date_format"][1], f"date_format {date_format!r} is not one of: "
                         + ", ".join(DATE_FORMATS))
    missing = (r.text_list(parts["missing_values"][1], "missing_values")
               if "missing_values" in parts else ())
    ignore = r.text_list(parts["ignore"][1], "ignore") if "ignore" in parts else ()
    sheet = r.text(parts["sheet"][1], "sheet") if "sheet" in parts else None
    tables, table_lines = r.tables(parts["tables"][1])
    for needed in ("las", "parents"):
        if needed not in tables:
            raise r.fail(parts["tables"][0], f"the mapping needs the {needed} table (a dataset "
                         "always has las and parents)")
    mapping = DeliveryMapping(p, date_format, missing, ignore, sheet, tables, table_lines)
    mapping.lines = {k: r.line(kn) for k, (kn, _) in parts.items()}
    if "questionnaires" in parts:
        r.questionnaires(parts["questionnaires"][1], mapping)
    return mapping
