"""What the child returned, checked for type and size before the grader uses any of it.

The results file is the child's, and the student's code runs in the child: it can reach the recorder,
patch torch.save or rewrite the file outright. So the file is read only within bounds (its zip's
uncompressed sizes, before torch.load), and what it holds is kept only where every value has the type
and size that child.py writes; a key the grader does not know is dropped, anything else refuses the file.
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import torch

from .child import MAX_ITEMS, MAX_TEXT

MAX_UNCOMPRESSED_BYTES = 256 * 2**20  # all the zip's entries, inflated: what torch.load would allocate
MAX_PICKLE_BYTES = 32 * 2**20  # the pickle (everything but the tensors' data), which unpickles to Python objects
MAX_ENTRIES = 4 * MAX_ITEMS + 100  # tensors (each an entry): params, two per record, a few more
MAX_NUMEL = MAX_UNCOMPRESSED_BYTES // 4  # elements over all tensors: a forged stride cannot make one huge
MAX_DIMS = 64  # as many as torch allows
NUMERIC = {torch.float16, torch.bfloat16, torch.float32, torch.float64, torch.uint8, torch.int8, torch.int16,
           torch.int32, torch.int64, torch.bool, torch.complex64, torch.complex128}


class Refused(ValueError):
    """The results file is not what child.py writes; the message says what is wrong, in a few words."""


def zip_problem(path: Path) -> str | None:
    """Why the torch file at `path` must not be loaded (None: it may): its central directory, read with
    zipfile, says how much torch.load would inflate; a forged file can deflate a gigabyte into a megabyte."""
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        return f"it is not a torch file ({type(err).__name__})"
    if len(entries) > MAX_ENTRIES:
        return f"it has {len(entries):,} entries, more than the {MAX_ENTRIES:,} the grader's child can write"
    total = sum(e.file_size for e in entries)
    if total > MAX_UNCOMPRESSED_BYTES:
        return f"it would inflate to {total:,} bytes, more than {MAX_UNCOMPRESSED_BYTES >> 20} MB"
    pickle = max((e.file_size for e in entries if e.filename.rsplit("/", 1)[-1] == "data.pkl"), default=0)
    if pickle > MAX_PICKLE_BYTES:
        return f"its pickle is {pickle:,} bytes, more than {MAX_PICKLE_BYTES >> 20} MB"
    return None


class _Checker:
    def __init__(self):
        self.numel = 0

    def text(self, value, limit: int = MAX_TEXT) -> str:
        if type(value) is not str or len(value) > limit:
            raise Refused(f"a value of type {type(value).__name__} where a text of at most {limit:,} characters "
                          "belongs")
        return value

    def integer(self, value) -> int:
        if type(value) is not int or abs(value) >= 2**63:
            raise Refused(f"a value of type {type(value).__name__} where an integer belongs")
        return value

    def boolean(self, value) -> bool:
        if type(value) is not bool:
            raise Refused(f"a value of type {type(value).__name__} where True or False belongs")
        return value

    def number(self, value) -> int | float:
        return value if type(value) is float else self.integer(value)

    def items(self, value, limit: int = MAX_ITEMS) -> list:
        if type(value) not in (list, tuple) or len(value) > limit:
            size = f" of {len(value):,} items" if type(value) in (list, tuple) else ""
            raise Refused(f"a value of type {type(value).__name__}{size} where a list of at most {limit:,} belongs")
        return list(value)

    def pair(self, value, first, second) -> list:
        value = self.items(value, 2)
        if len(value) != 2:
            raise Refused("a list of the wrong length")
        return [first(value[0]), second(value[1])]

    def tensor(self, value) -> torch.Tensor:
        if type(value) not in (torch.Tensor, torch.nn.Parameter):
            raise Refused(f"a value of type {type(value).__name__} where a tensor belongs")
        if value.layout != torch.strided or value.dtype not in NUMERIC or value.is_quantized or value.ndim > MAX_DIMS:
            raise Refused(f"a tensor of an unusual kind ({value.dtype}, {value.layout})")
        self.numel += value.numel()
        if self.numel > MAX_NUMEL:
            raise Refused(f"tensors of more than {MAX_NUMEL:,} numbers in all")
        return value.detach()

    def maybe(self, check):
        return lambda value: None if value is None else check(value)

    def either(self, *checks):
        def check(value):
            for one in checks:
                try:
                    return one(value)
                except Refused:
                    continue
            raise Refused(f"a value of type {type(value).__name__} where none belongs")
        return check

    def mapping(self, value, keys, values, limit: int = MAX_ITEMS) -> dict:
        if type(value) is not dict or len(value) > limit:
            raise Refused(f"a value of type {type(value).__name__} where a dict of at most {limit:,} items belongs")
        return {keys(k): values(v) for k, v in value.items()}

    def shape(self, value) -> list[int]:
        return [self.integer(v) for v in self.items(value, MAX_DIMS)]

    def fields(self, value, names: tuple[str, ...]) -> dict:
        """A dict whose keys are among `names` (values checked by the caller)."""
        value = self.mapping(value, lambda k: k, lambda v: v, limit=len(names))
        if not set(value) <= set(names):
            raise Refused(f"a dict with keys other than {', '.join(names)}")
        return value

    def error(self, value) -> dict:
        return {k: self.text(v, 2 * MAX_TEXT) for k, v in self.fields(value, ("type", "message", "trace")).items()}


def _answer(c: _Checker, value) -> dict:
    answer = c.fields(value, ("value", "got", "error"))
    return {"value": c.maybe(c.shape)(answer.get("value")), "got": c.maybe(c.text)(answer.get("got")),
            "error": c.maybe(c.error)(answer.get("error"))}


def _history_entry(c: _Checker, value):
    if type(value) is str:
        return c.text(value)
    return c.mapping(value, c.text, c.either(c.number, c.text), limit=20)


def _schema(c: _Checker) -> dict:
    """key -> its check, for every key child.py writes."""
    text = c.text
    return {
        "phase": text,
        "errors": lambda v: c.mapping(v, text, c.error, limit=20),
        "timings": lambda v: c.mapping(v, text, c.number, limit=20),
        "challenge_defined": c.boolean,
        "output_shape": lambda v: [_answer(c, a) for a in c.items(v, 10 * MAX_ITEMS)],
        "model_io": lambda v: c.mapping(v, c.integer, c.either(c.shape, c.text), limit=8),
        "param_count_initial": c.integer,
        "param_shapes_initial": lambda v: [c.pair(p, text, c.shape) for p in c.items(v)],
        "history": lambda v: [_history_entry(c, h) for h in c.items(v, 10_000)],
        "optimizer_steps": c.integer,
        "params": lambda v: [c.pair(p, text, c.tensor) for p in c.items(v)],
        "buffers": lambda v: [c.pair(b, text, c.shape) for b in c.items(v)],
        "modules": lambda v: [c.pair(m, text, text) for m in c.items(v)],
        "module_count": c.integer,
        "records": lambda v: [_record(c, r) for r in c.items(v, 2 * MAX_ITEMS)],
        "probe_out": c.either(c.tensor, c.text),
        "test_logits": c.tensor,
        "patches": c.either(c.tensor, c.text),
        "param_count": c.integer,
    }


def _record(c: _Checker, value) -> list:
    record = c.items(value, 4)
    if len(record) != 4:
        raise Refused("a layer record of the wrong length")
    return [c.text(record[0]), c.text(record[1]), c.maybe(c.tensor)(record[2]), c.maybe(c.tensor)(record[3])]


def checked(res) -> dict:
    """The results with only the keys the grader knows, each of the type and size child.py writes;
    Refused, naming the key, where one is not."""
    if type(res) is not dict:
        raise Refused(f"it holds a {type(res).__name__}, not a dict")
    c = _Checker()
    out = {}
    for key, check in _schema(c).items():
        if key in res:
            try:
                out[key] = check(res[key])
            except Refused as err:
                raise Refused(f"its {key} holds {err}") from None
            except (TypeError, ValueError, AttributeError, RuntimeError, RecursionError) as err:
                raise Refused(f"its {key} could not be read ({type(err).__name__})") from None
    out.setdefault("errors", {})
    return out

