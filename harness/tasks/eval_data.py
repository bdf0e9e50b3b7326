"""The labelled examples a task evaluates on (text and labels only; tokenising is the export stage's job).

    sst2                 DIR/dev.tsv of the GLUE SST-2 layout (label 0 negative, 1 positive)
    text-classification  any TSV or CSV file: one text column, or two for sentence pairs, and a label column;
                         labels are integers 0..k-1, or names the model's id2label knows

Every problem with the data is one HarnessError line naming the file, the line and what was expected.
"""

from __future__ import annotations

import csv
import hashlib
import io
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.foundation.errors import HarnessError
from harness.foundation.pathchecks import files_in

SST2_LABELS = ("negative", "positive")
SST2_LAYOUT = "SST-2 layout: train.tsv, dev.tsv"
SST2_TEXT_COLUMNS = ("sentence", "content")  # GLUE's train.tsv and dev.tsv name the text column differently
MAX_DATA_BYTES = 512 * 2**20  # a larger evaluation file is refused rather than read whole


@dataclass(frozen=True)
class EvalExamples:
    task: str
    split: str
    texts: tuple[str, ...]
    pairs: tuple[str, ...] | None  # second sentences, for sentence-pair tasks
    labels: tuple[int, ...]
    label_names: tuple[str, ...]
    data_file: str
    data_sha256: str


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_text(path: Path, what: str = "data file") -> str:
    """The whole of a data file as text: present, a regular file, at most MAX_DATA_BYTES, UTF-8 (a byte-order mark
    is dropped). A problem is one HarnessError line naming the file and, for bad bytes, the line they are on."""
    if not path.is_file():
        raise HarnessError(f"{what} {str(path)!r} does not exist")
    if path.stat().st_size > MAX_DATA_BYTES:
        raise HarnessError(f"{what} {str(path)!r} is larger than {MAX_DATA_BYTES // 2**20} MiB")
    raw = path.read_bytes()
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise HarnessError(f"{what} {str(path)!r} is not a UTF-8 text file (line {line}, byte {exc.start}: "
                           f"{raw[exc.start:exc.start + 1]!r}); save it as UTF-8") from None


def _rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """(header, [(line number, cells)]) of a TSV (.tsv, .txt) or CSV file."""
    text = read_text(path)
    tab = path.suffix.lower() in (".tsv", ".txt")
    csv.field_size_limit(sys.maxsize)
    try:
        lines = io.StringIO(text, newline="")
        reader = csv.reader(lines, delimiter="\t", quoting=csv.QUOTE_NONE) if tab else csv.reader(lines)
        header = [h.strip() for h in next(reader, [])]
        rows = [(reader.line_num, row) for row in reader if row and any(c.strip() for c in row)]
    except csv.Error as exc:
        raise HarnessError(f"data file {str(path)!r} is not a readable {'TSV' if tab else 'CSV'} file: {exc}") from None
    if not header:
        raise HarnessError(f"data file {str(path)!r} is empty")
    return header, rows


def _column(header: list[str], name: str, path: Path) -> int:
    if name not in header:
        shown = ", ".join(header[:12]) + (", ..." if len(header) > 12 else "")
        raise HarnessError(f"data file {str(path)!r} has no column {name!r}; its columns: {shown}")
    return header.index(name)


def label_mapping(raw: list[str], num_labels: int, id2label: dict[int, str], path: Path) -> tuple[list[int], tuple[str, ...]]:
    """Label ids for raw label cells: integers 0..num_labels-1, or the model's own label names."""
    names = tuple(id2label.get(i, f"LABEL_{i}") for i in range(num_labels))
    if all(v.strip().lstrip("-").isdigit() for v in raw):
        ids = [int(v) for v in raw]
        bad = sorted({i for i in ids if not 0 <= i < num_labels})
        if bad:
            raise HarnessError(f"data file {str(path)!r}: labels {bad[:5]} are outside the model's {num_labels} "
                               f"classes (0..{num_labels - 1})")
        return ids, names
    by_name = {n.lower(): i for i, n in enumerate(names)}
    unknown = sorted({v for v in raw if v.strip().lower() not in by_name})
    if unknown:
        raise HarnessError(f"data file {str(path)!r}: unknown labels {unknown[:5]}; the model's labels are "
                           f"{', '.join(names)} (or integers 0..{num_labels - 1})")
    return [by_name[v.strip().lower()] for v in raw], names


def read_tsv(path: Path) -> tuple[list[str], list[int]]:
    """(texts, labels) of a GLUE SST-2 file, whichever text column name it uses; every problem (not there, not
    UTF-8, no header, a missing column, a short row, a label other than 0 or 1) is one HarnessError line."""
    if not path.is_file():
        raise HarnessError(f"data directory {str(path.parent)!r} has no {path.name} ({SST2_LAYOUT})")
    csv.field_size_limit(sys.maxsize)
    rows = csv.reader(io.StringIO(read_text(path, "SST-2 file"), newline=""), delimiter="\t", quoting=csv.QUOTE_NONE)
    try:
        header = [h.strip() for h in next(rows)]
    except StopIteration:
        raise HarnessError(f"SST-2 file {str(path)!r} is empty") from None
    if "label" not in header:
        raise HarnessError(f"SST-2 file {str(path)!r} has no 'label' column; header is {header[:12]}")
    text_col = next((c for c in SST2_TEXT_COLUMNS if c in header), None)
    if text_col is None:
        raise HarnessError(
            f"SST-2 file {str(path)!r} has no text column; header is {header[:12]}, expected one of {list(SST2_TEXT_COLUMNS)}"
        )
    li, ti = header.index("label"), header.index(text_col)
    texts, labels = [], []
    for row in rows:
        lineno = rows.line_num
        if not row or all(not c.strip() for c in row):
            continue
        try:
            label = int(row[li])
            text = row[ti]
        except (IndexError, ValueError):
            shown = repr(row)[:80]
            raise HarnessError(f"SST-2 file {str(path)!r} line {lineno}: bad row {shown}: expected "
                               f"{len(header)} tab-separated cells ({', '.join(header[:4])})") from None
        if label not in (0, 1):
            raise HarnessError(f"SST-2 file {str(path)!r} line {lineno}: label {label} is not 0 or 1")
        texts.append(text)
        labels.append(label)
    return texts, labels


def check_sst2_dir(data_dir) -> None:
    """An SST-2 directory, checked before any work as training and evaluating on it would read it: both splits
    present, UTF-8, with their columns, every row's cells and labels, and at least one example each."""
    for path in files_in(data_dir, ["train.tsv", "dev.tsv"], "data directory", SST2_LAYOUT):
        texts, _ = read_tsv(path)
        if not texts:
            raise HarnessError(f"SST-2 file {str(path)!r} has no examples")


def sst2_examples(data_dir: str, num_labels: int) -> EvalExamples:
    (path,) = files_in(data_dir, ["dev.tsv"], "data directory", SST2_LAYOUT)
    if num_labels != len(SST2_LABELS):
        raise HarnessError(f"task sst2 has 2 labels ({', '.join(SST2_LABELS)}) but the model has {num_labels}; "
                           "evaluate it with --task text-classification on data with its own labels")
    texts, labels = read_tsv(path)
    if not texts:
        raise HarnessError(f"SST-2 file {str(path)!r} has no examples")
    return EvalExamples("sst2", "dev", tuple(texts), None, tuple(labels), SST2_LABELS, str(path), file_sha256(path))


def read_columns(data_file: str, text_columns, label_column: str | None = None):
    """(texts, second texts or [], raw label cells or []) of a TSV/CSV file."""
    path = Path(data_file)
    header, rows = _rows(path)
    text_at = [_column(header, c, path) for c in text_columns]
    label_at = [_column(header, label_column, path)] if label_column else []
    texts, pairs, raw = [], [], []
    for line, row in rows:
        if max(text_at + label_at) >= len(row):
            raise HarnessError(f"data file {str(path)!r} line {line}: {len(row)} cells, expected {len(header)}")
        texts.append(row[text_at[0]])
        if len(text_at) > 1:
            pairs.append(row[text_at[1]])
        if label_at:
            raw.append(row[label_at[0]])
    if not texts:
        raise HarnessError(f"data file {str(path)!r} has no examples")
    return texts, pairs, raw


def text_classification_examples(data_file: str, text_columns, label_column: str, num_labels: int,
                                 id2label: dict[int, str]) -> EvalExamples:
    path = Path(data_file)
    texts, pairs, raw = read_columns(data_file, text_columns, label_column)
    labels, names = label_mapping(raw, num_labels, id2label, path)
    return EvalExamples("text-classification", path.name, tuple(texts), tuple(pairs) if pairs else None,
                        tuple(labels), names, str(path), file_sha256(path))


def eval_examples(task, num_labels: int, id2label: dict[int, str] | None = None) -> EvalExamples:
    """The examples of a TaskSpec (sst2 or text-classification), cut to its eval_limit."""
    if task.name == "sst2":
        ex = sst2_examples(task.data, num_labels)
    elif task.name == "text-classification":
        ex = text_classification_examples(task.data, task.text_columns, task.label_column, num_labels, id2label or {})
    else:
        raise HarnessError(f"task {task.name!r} has no labelled examples")
    if task.eval_limit is not None and task.eval_limit < len(ex.texts):
        n = task.eval_limit
        ex = EvalExamples(ex.task, ex.split, ex.texts[:n], ex.pairs[:n] if ex.pairs else None, ex.labels[:n],
                          ex.label_names, ex.data_file, ex.data_sha256)
    return ex


def check_task_data(task, family) -> None:
    """A labelled task's data, checked before any work as evaluating it would (encoding, columns, every row's cells,
    labels against the model's classes), and for sst2 the training split too (int8 calibration and fine-tuning
    read it). `task` is a TaskSpec; teacher tasks have no data."""
    if task.name == "teacher":
        return
    if family.kind != "text":
        raise HarnessError(f"task {task.name} is text but model {family.name!r} is an {family.kind} model; "
                           "use --task teacher (agreement with the dense model on generated inputs)")
    if task.name == "sst2":
        check_sst2_dir(task.data)
    eval_examples(task, int(family.num_labels), getattr(family, "id2label", None))
