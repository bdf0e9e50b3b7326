"""The labelled examples a task evaluates on (text and labels only; tokenising is the export stage's job).

    sst2                 DIR/dev.tsv of the GLUE SST-2 layout (label 0 negative, 1 positive)
    text-classification  any TSV or CSV file: one text column, or two for sentence pairs, and a label column;
                         labels are integers 0..k-1, or names the model's id2label knows

Every problem with the data is one HarnessError line naming the file, the line and what was expected.
"""

from __future__ import annotations

import csv
import hashlib
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.foundation.errors import HarnessError
from harness.foundation.pathchecks import files_in

SST2_LABELS = ("negative", "positive")
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


def _rows(path: Path) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """(header, [(line number, cells)]) of a TSV (.tsv, .txt) or CSV file."""
    if not path.is_file():
        raise HarnessError(f"data file {str(path)!r} does not exist")
    if path.stat().st_size > MAX_DATA_BYTES:
        raise HarnessError(f"data file {str(path)!r} is larger than {MAX_DATA_BYTES // 2**20} MiB")
    tab = path.suffix.lower() in (".tsv", ".txt")
    csv.field_size_limit(sys.maxsize)
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh, delimiter="\t", quoting=csv.QUOTE_NONE) if tab else csv.reader(fh)
            header = [h.strip() for h in next(reader, [])]
            rows = [(reader.line_num, row) for row in reader if row and any(c.strip() for c in row)]
    except UnicodeDecodeError as exc:
        raise HarnessError(f"data file {str(path)!r} is not UTF-8 text (byte {exc.start})") from None
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


def sst2_examples(data_dir: str, num_labels: int) -> EvalExamples:
    from .sst2 import SST2_LAYOUT, read_tsv

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
