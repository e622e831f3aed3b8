"""Read a plain CSV file as dictionary-encoded text columns, streaming.

A national table holds millions of cells but few distinct texts per column (a few
thousand dates, a hundred thousand identifiers at most). Read by Arrow's streaming CSV
reader, each block's columns are dictionary-encoded as they come (Arrow's kernels, on
both cores) and the blocks' dictionaries unified, so the file is never held whole, in
bytes or in text: what is kept is one small integer per cell and each distinct text
once, as a pandas ``Categorical`` whose categories are in order of first appearance in
the file. The checks of :mod:`rpc_eval.data.intake` then work once per distinct text.

Only a *plain* file is read this way: UTF-8 without a byte-order mark, no quote marks,
no carriage return other than in a Windows line end, no NUL byte, fewer than
:data:`~rpc_eval.data.readers.WIDE` columns, every row as wide as the first. Any other
file (or one Arrow refuses) gives ``None`` and is read by
:func:`rpc_eval.data.readers.read_table_file`'s general path, which says what is wrong.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pandas as pd

__all__ = ["read_encoded_csv", "SCAN_BLOCK"]

#: Bytes read at a time when the file is scanned for what Arrow's plain reading cannot
#: take (quote marks, lone carriage returns, NUL bytes).
SCAN_BLOCK = 1 << 24
#: Bytes decoded to find the header line and the separator.
HEAD_BYTES = 1 << 20


def _scan_is_plain(path: Path) -> bool:
    """True when the file holds no quote mark, NUL byte or lone carriage return (a
    carriage return not followed by a line feed), looked for block by block."""
    prev_cr = False
    with open(path, "rb") as fh:
        while True:
            block = fh.read(SCAN_BLOCK)
            if not block:
                return not prev_cr
            if b'"' in block or b"\x00" in block:
                return False
            if prev_cr and not block.startswith(b"\n"):
                return False
            if b"\r" in block:
                lone = block.count(b"\r") - block.count(b"\r\n") - block.endswith(b"\r")
                if lone:
                    return False
            prev_cr = block.endswith(b"\r")


def _head_text(path: Path) -> str | None:
    """The complete lines of the file's first megabyte as text (None: not plain UTF-8
    text, or begins with a byte-order mark)."""
    with open(path, "rb") as fh:
        head = fh.read(HEAD_BYTES)
        more = bool(fh.read(1))
    if head.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        return None
    if more:
        cut = head.rfind(b"\n")
        if cut < 0:
            return None
        head = head[:cut + 1]
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _categorical(chunks: list, combine) -> pd.Categorical:
    """One column's dictionary-encoded blocks as a Categorical (categories unified, in
    order of first appearance)."""
    arr = combine(chunks)
    codes = arr.indices.to_numpy(zero_copy_only=False)
    words = arr.dictionary.to_numpy(zero_copy_only=False).astype(object)
    return pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(
        pd.Index(words, dtype="str"), ordered=False), validate=False)


def read_encoded_csv(path: Path, delimiter_of) -> tuple[pd.DataFrame, str] | None:
    """The cells of a plain CSV file as a frame of Categorical text columns numbered
    from 0 (the header line is row 0), and the separator; None when the file is not
    plain (see the module's description).

    ``delimiter_of(text)`` gives the separator from the file's first lines.
    """
    import pyarrow as pa
    import pyarrow.csv as pacsv

    from rpc_eval.data.readers import WIDE

    head = _head_text(path)
    if head is None or not head.strip() or "\n" not in head or head.startswith(("\n", "\r")):
        return None
    delimiter = delimiter_of(head)
    first = head[:head.find("\n")].rstrip("\r")
    width = first.count(delimiter) + 1
    if width > WIDE or not _scan_is_plain(path):
        return None
    names = [f"f{i}" for i in range(width)]
    try:
        reader = pacsv.open_csv(
            str(path),
            read_options=pacsv.ReadOptions(column_names=names, block_size=1 << 24),
            parse_options=pacsv.ParseOptions(delimiter=delimiter, quote_char=False,
                                             double_quote=False, escape_char=False,
                                             newlines_in_values=False,
                                             ignore_empty_lines=False),
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, null_values=[],
                strings_can_be_null=False, quoted_strings_can_be_null=False))
        chunks: list[list] = [[] for _ in names]
        # a block is encoded while the next one is parsed; at most two wait
        pending: deque[list[Future]] = deque()
        with ThreadPoolExecutor(2) as pool:
            for batch in reader:
                pending.append([pool.submit(_encode, col) for col in batch.columns])
                while len(pending) > 2 or (pending and not batch.num_rows):
                    for i, done in enumerate(pending.popleft()):
                        chunks[i].append(done.result())
            while pending:
                for i, done in enumerate(pending.popleft()):
                    chunks[i].append(done.result())
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, OSError):
        return None
    if not chunks[0]:
        return None
    table = pa.table([pa.chunked_array(c) for c in chunks], names=names).unify_dictionaries()
    del chunks
    frame = pd.DataFrame({i: _categorical(table.column(i), lambda c: c.combine_chunks())
                          for i in range(width)})
    return frame, delimiter


def _encode(column):
    import pyarrow as pa
    import pyarrow.compute as pc

    if not (pa.types.is_string(column.type) or pa.types.is_large_string(column.type)):
        raise pa.ArrowInvalid("not text")
    return pc.dictionary_encode(column)
