"""Files in and out. Writes are atomic: a crash leaves either the old file or the new one, never
half of one, and a full disk is one line naming the file. Reads of text, JSON, JSON lines and
YAML report invalid UTF-8, a byte-order mark, invalid JSON and repeated YAML keys as one line
with the file and line."""

from __future__ import annotations

import errno
import gc
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml

from xstilts.errors import XstiltsError

# Write errors that are the disk's, not the program's: reported as one line naming the file.
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
BOM = "\ufeff"


def cache_root() -> Path:
    """Where xstilts keeps converted models and tokenized data: `$XSTILTS_CACHE`, else
    `~/.cache/xstilts`."""
    configured = os.environ.get("XSTILTS_CACHE")
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "xstilts"


def write_bytes_atomic(path: Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, plain_file_mode())
        os.replace(tmp, path)
    except BaseException as exc:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.errno in DISK_FULL:
            raise disk_full(path, exc) from None
        raise


def disk_full(path: Path | str | None, exc: OSError) -> XstiltsError:
    """The one line for a write that ran out of space (or quota)."""
    return XstiltsError(f"{path or 'writing a file'}: {os.strerror(exc.errno)}; free some space "
                        "(or point XSTILTS_CACHE / --out elsewhere) and rerun")


def give_plain_modes(folder: Path) -> None:
    """Every file under `folder` gets the mode a plain open() would give it (safetensors writes
    its files 0600, which hides a shared run's weights from the user's group)."""
    mode = plain_file_mode()
    for path in Path(folder).rglob("*"):
        if path.is_file():
            os.chmod(path, mode)


def plain_file_mode() -> int:
    """The mode a plain open() gives a new file under the user's umask (mkstemp's is 0600)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode("utf-8"))


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def write_jsonl_atomic(path: Path, rows: list[dict[str, Any]]) -> None:
    write_text_atomic(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def replace_dir_atomic(staging: Path, target: Path) -> None:
    """Move a fully written `staging` directory to `target`, replacing any old one.

    The old directory is renamed aside before the new one takes its place, so at every
    moment one complete copy exists on disk.
    """
    staging, target = Path(staging), Path(target)
    old = target.with_name(f".{target.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if target.exists():
        os.replace(target, old)
    os.replace(staging, target)
    if old.exists():
        shutil.rmtree(old)


def staging_dir_for(target: Path) -> Path:
    """A fresh, empty sibling directory to write `target`'s new contents into."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_name(f".{target.name}.staging")
    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir()
    return staging


@contextmanager
def gc_paused() -> Iterator[None]:
    """Build many small objects without Python's cyclic collector walking every live object
    over and over (it adds about 60% to loading a cached data set); the collector resumes after."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


# ---------------------------------------------------------------- reading


def _not_utf8(path: Path, data: bytes, exc: UnicodeDecodeError, first_line: int = 1) -> XstiltsError:
    line = first_line + data.count(b"\n", 0, exc.start)
    return XstiltsError(f"{path}:{line}: not valid UTF-8 (byte 0x{data[exc.start]:02x}); save the file as UTF-8")


def _bom(path: Path, before: str) -> XstiltsError:
    return XstiltsError(f"{path}:1: a byte-order mark (BOM, U+FEFF) before the {before}; "
                        "save the file as UTF-8 without a BOM")


def read_text(path: Path, before: str = "first line") -> str:
    """A UTF-8 file's text; invalid UTF-8 or a byte-order mark is one line with its place."""
    data = Path(path).read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _not_utf8(path, data, exc) from None
    if text.startswith(BOM):
        raise _bom(path, before)
    return text


def text_lines(path: Path, before: str = "first line") -> Iterator[tuple[int, str]]:
    """(line number, line with its ending) of a UTF-8 file, read one line at a time."""
    with Path(path).open("rb") as handle:
        for lineno, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _not_utf8(path, raw, exc, lineno) from None
            if lineno == 1 and line.startswith(BOM):
                raise _bom(path, before)
            yield lineno, line


def read_json(path: Path, what: str = "") -> Any:
    """A JSON file; invalid JSON (a truncated file) is one line with its place and `what` the file should be."""
    try:
        return json.loads(read_text(path))
    except json.JSONDecodeError as exc:
        raise XstiltsError(f"{path}:{exc.lineno}: not valid JSON ({exc.msg})" + (f"; {what}" if what else "")) from None


def jsonl_objects(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str | None]]:
    """(line number, object, problem) per non-blank line of a JSON-lines file: the object, or
    None and what is wrong with the line."""
    for lineno, line in text_lines(path):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            yield lineno, None, f"not valid JSON ({exc.msg})"
            continue
        yield (lineno, row, None) if isinstance(row, dict) else (lineno, None, "not a JSON object")


def read_jsonl(path: Path, what: str = "") -> list[dict[str, Any]]:
    """The JSON objects of a JSON-lines file (blank lines skipped); a line that is not one is
    one line with its place."""
    rows = []
    for lineno, row, problem in jsonl_objects(path):
        if problem is not None:
            raise XstiltsError(f"{path}:{lineno}: {problem}" + (f"; {what}" if what else ""))
        rows.append(row)
    return rows


class _RepeatedKey(yaml.constructor.ConstructorError):
    pass


class _UniqueKeyLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml's parser when present: 6x faster
    """safe_load that refuses a key given twice in one mapping (YAML keeps the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                first = seen.get(key)
            except TypeError:  # an unhashable key: SafeLoader's own error says so
                break
            if first is not None:
                raise _RepeatedKey(
                    None, None, f"key '{key}' given twice (first on line {first})", key_node.start_mark)
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep)


def load_yaml(text: str, source: Path | str) -> Any:
    """YAML through a safe loader (no code runs), keys unique; an error is one line with `source:line`."""
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        place = f"{source}:{mark.line + 1}" if mark else str(source)
        problem = getattr(exc, "problem", None) or exc
        raise XstiltsError(f"{place}: {problem}" if isinstance(exc, _RepeatedKey)
                           else f"{place}: not valid YAML ({problem})") from None
