"""Saving a model folder without ever losing a file textrnn did not write.

A model is built in a hidden staging folder beside its destination and moved into place with a
rename that cannot replace anything (a name taken meanwhile gets a suffix instead); `--force`
replaces only a folder that holds nothing but model files. A staging folder is locked (flock) by
the process that owns it, so folders left by killed runs can be told from running ones and removed.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from textrnn import interrupts
from textrnn.errors import ModelFolderError
from textrnn.folder.store import LOCK_FILE, METADATA_FILE, MODEL_FILES, as_created, os_error

STAGING = re.compile(r"^\..+\.(partial|old)-[a-z0-9_]{8}$")  # what mkdtemp makes below
UNLOCKED_STALE_SECONDS = 600  # a staging folder with no lock file (older textrnn) this old is stale


def is_model_folder(path: Path) -> bool:
    """Whether `path` is a folder holding textrnn model files and nothing else (what --force may replace)."""
    try:
        entries = list(path.iterdir())
    except OSError:
        return False
    return (not path.is_symlink() and ((path / METADATA_FILE).is_file() or (path / "encoder.json").is_file())
            and all(e.name in MODEL_FILES and e.is_file() and not e.is_symlink() for e in entries))


def _check_replaceable(final: Path) -> None:
    cwd = Path.cwd().resolve()
    if final == cwd or final in cwd.parents:
        raise ModelFolderError(f"--force will not replace {final}: it holds the current folder")
    if not final.is_dir():
        raise ModelFolderError(f"--force replaces model folders only; {final} is not a folder")
    if not is_model_folder(final):
        try:
            other = sorted(e.name for e in final.iterdir() if e.name not in MODEL_FILES or not e.is_file())
        except OSError as err:
            raise os_error("read", final, err) from err
        shown = ", ".join(other[:3]) + (", ..." if len(other) > 3 else "")
        what = f"holds files textrnn did not write ({shown})" if other else "is not a textrnn model folder"
        raise ModelFolderError(f"--force replaces model folders only; {final} {what}: choose another --out")


def _rename_noreplace(src: Path, dst: Path) -> None:
    """Rename that fails with FileExistsError rather than replace `dst` (Linux renameat2)."""
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is not None:
        at_fdcwd, noreplace = -100, 1
        if renameat2(at_fdcwd, os.fsencode(src), at_fdcwd, os.fsencode(dst), noreplace) == 0:
            return
        code = ctypes.get_errno()
        if code in (errno.EEXIST, errno.ENOTEMPTY):
            raise FileExistsError(code, os.strerror(code), str(dst))
        if code not in (errno.ENOSYS, errno.EINVAL):  # EINVAL: the filesystem lacks the flag
            raise OSError(code, os.strerror(code), str(dst))
    if os.path.lexists(dst):  # elsewhere: a check, then rename (which replaces only an empty folder)
        raise FileExistsError(errno.EEXIST, "File exists", str(dst))
    os.rename(src, dst)


class _Lock:
    """An exclusive flock on `path`, held until released or the process dies (kill -9 included)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)

    def release(self, unlink_at: Path | None = None) -> None:
        if unlink_at is not None:
            with suppress(OSError):
                unlink_at.unlink()
        os.close(self.fd)


def _is_stale(folder: Path, now: float) -> bool:
    lock = folder / LOCK_FILE
    try:
        fd = os.open(lock, os.O_RDWR)
    except FileNotFoundError:  # written before locks existed, or in the instant before its lock
        try:
            return now - folder.stat().st_mtime > UNLOCKED_STALE_SECONDS
        except OSError:
            return False
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # a running training holds it
    finally:
        os.close(fd)
    return True


@dataclass
class Swept:
    """Staging folders of killed runs that were removed, and their size."""

    folders: list[Path] = field(default_factory=list)
    bytes: int = 0


def stale_staging(folder: Path) -> list[Path]:
    """Staging folders in `folder` left by runs that were killed (no process holds their lock)."""
    now = time.time()
    try:
        entries = list(folder.iterdir())
    except OSError:
        return []
    return sorted(e for e in entries if STAGING.match(e.name) and e.is_dir() and not e.is_symlink()
                  and _is_stale(e, now))


def sweep_stale(folder: Path) -> Swept:
    """Remove the staging folders of killed runs from `folder`."""
    swept = Swept()
    for path in stale_staging(folder):
        size = tree_bytes(path)
        shutil.rmtree(path, ignore_errors=True)
        if not path.exists():
            swept.folders.append(path)
            swept.bytes += size
    return swept


@dataclass
class Staged:
    """A staging folder being written (`path`) and where it ends up (`final`, set once saved)."""

    path: Path
    requested: Path
    final: Path | None = None
    swept: Swept = field(default_factory=Swept)

    @property
    def renamed(self) -> bool:
        """Whether the requested name was taken meanwhile, so the model got a suffixed one."""
        return self.final is not None and self.final != self.requested


def check_destination(final: str | Path, overwrite: bool = False) -> Path:
    """The absolute destination folder, or a clear error if saving there is not allowed."""
    final = Path(os.path.abspath(final))  # '..' resolved by name: no side effects in missing folders
    if final.is_symlink() or final.exists():
        if not overwrite:
            raise ModelFolderError(f"{final} already exists; choose another --out or pass --force "
                                   "(which replaces model folders only)")
        _check_replaceable(final)
    for parent in final.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ModelFolderError(f"cannot create {final}: {parent} is a file, not a folder")
            if not os.access(parent, os.W_OK | os.X_OK):
                raise ModelFolderError(f"cannot create {final}: no permission to write in {parent}")
            break
    return final


def _move_into_place(tmp: Path, final: Path, overwrite: bool) -> Path:
    """Rename `tmp` to `final` (or, when --force was given, replace the model folder there); if the
    name was taken meanwhile by anything else, to `final-2`, `final-3`, ... instead."""
    for n in range(1, 1000):
        target = final if n == 1 else final.with_name(f"{final.name}-{n}")
        if n == 1 and overwrite and target.exists():
            try:
                _check_replaceable(target)
            except ModelFolderError:
                continue  # it changed while training: keep it, use another name
            _replace(tmp, target)
            return target
        try:
            _rename_noreplace(tmp, target)
            return target
        except FileExistsError:
            continue
        except OSError as err:
            raise os_error("save the model as", target, err) from err
    raise ModelFolderError(f"cannot save the model: {final} and 999 suffixed names are taken")


def _replace(tmp: Path, final: Path) -> None:
    old = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.old-"))
    lock = _Lock(old / LOCK_FILE)
    try:
        os.rename(final, old / "model")
        try:
            _rename_noreplace(tmp, final)
        except OSError:
            os.rename(old / "model", final)  # put the old model back
            raise
    finally:
        lock.release()
        shutil.rmtree(old, ignore_errors=True)


@contextmanager
def staging(final: str | Path, overwrite: bool = False) -> Iterator[Staged]:
    """A locked temporary folder beside `final`, moved into place only if the block completes.

    On any error, Ctrl-C or SIGTERM (which the CLI turns into Ctrl-C) the temporary folder is
    removed and nothing else is touched; a signal during the move into place (and the clean-up) waits
    for it to finish (textrnn.interrupts.held). Staging folders of killed runs beside `final` are removed
    first (see `Staged.swept`).
    """
    final = check_destination(final, overwrite)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        swept = sweep_stale(final.parent)
        tmp = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.partial-"))
    except OSError as err:
        raise os_error("create", final, err) from err
    lock = _Lock(tmp / LOCK_FILE)
    staged = Staged(tmp, final, swept=swept)
    try:
        yield staged
        _follow_umask(tmp)
        with interrupts.held():  # a second Ctrl-C cannot cut the move (or a --force replacement) in two
            staged.final = _move_into_place(tmp, final, overwrite)
    finally:
        with interrupts.held():
            lock.release(unlink_at=staged.final / LOCK_FILE if staged.final else None)
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


def _follow_umask(folder: Path) -> None:
    """Give the folder and every file in it the permissions the user's umask gives new ones: writers
    that go through a temporary file (safetensors' save_file, tempfile) make theirs 0600."""
    as_created(folder, directory=True)
    for dirpath, dirs, files in os.walk(folder):
        for name in dirs:
            as_created(Path(dirpath) / name, directory=True)
        for name in files:
            if name != LOCK_FILE:
                as_created(Path(dirpath) / name, directory=False)


@contextmanager
def writing(path: str | Path) -> Iterator[None]:
    """A file being written by any writer (ours, safetensors', tokenizers', ONNX's): an OSError, or a
    writer library's own I/O error, becomes one ModelFolderError naming the file (a full disk, a
    file-size limit, no permission) instead of a traceback. In a staging folder, nothing was saved."""
    path = Path(path)
    try:
        yield
    except ModelFolderError:
        raise
    except OSError as err:
        raise ModelFolderError(_cannot_write(path, err.strerror or str(err))) from err
    except Exception as err:  # safetensors (SafetensorError) and tokenizers (Exception) wrap the OS error
        text = str(err)
        if "os error" not in text.lower() and "i/o error" not in text.lower():
            raise
        raise ModelFolderError(_cannot_write(path, text.splitlines()[0][:200])) from err


def _cannot_write(path: Path, reason: str) -> str:
    hint = " (the disk is full)" if "no space" in reason.lower() else (
        " (a file-size limit: ulimit -f)" if "too large" in reason.lower() else "")
    if STAGING.match(path.parent.name):  # name the destination, not the hidden staging folder
        final = path.parent.parent / path.parent.name[1:].rsplit(".", 1)[0]
        return f"cannot save {final}: writing {path.name} failed: {reason}{hint}; nothing was saved"
    return f"cannot write {path}: {reason}{hint}"


def tree_bytes(path: Path) -> int:
    """Total size of the files under `path`."""
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            with suppress(OSError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total
