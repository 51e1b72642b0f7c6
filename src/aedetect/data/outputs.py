"""Writing outputs safely: the check every command runs on its output before any work, and atomic writes.

:func:`check_output` refuses an output that cannot be written or whose writing would destroy an input;
:func:`atomic_write` writes to a temporary file beside the output and renames it, removing the
temporary on an error, Ctrl-C, SIGTERM or SIGHUP, and a dead writer's temporaries on the next write;
new files get the mode any program's output gets (0o666 less the umask). Model folders are staged
the same way (:mod:`aedetect.persistence.storage`), with the same process and signal rules.
"""

from __future__ import annotations

import os
import re
import signal
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from contextlib import contextmanager
from pathlib import Path


def check_output_folder(path) -> Path:
    """Fail before any work when ``path`` cannot be written: its folder is missing or read-only."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise ValueError(f"Cannot write {str(path)!r}: the folder {str(folder)!r} does not exist; create it first.")
    if not os.access(folder, os.W_OK):
        raise PermissionError(f"Cannot write {str(path)!r}: no write permission in {str(folder)!r}.")
    return path


def check_output(
    path, inputs: Iterable = (), folders: Iterable = (), suffixes: Sequence[str] | None = None, directory: bool = False
) -> Path:
    """Fail before any work when a command could not write ``path``, or writing it would destroy an input.

    The one check that every command runs on its output before it loads a model or reads data:

    - the folder that is to hold ``path`` exists and is writable;
    - ``path`` is not a directory (unless ``directory``: a model folder, replaced as a whole);
    - its name ends in one of ``suffixes``, when given;
    - it is none of ``inputs`` (data files or folders) and no file in ``folders`` (folders whose every
      file is an input: a model folder), whether by the same name, a symbolic link or a hard link
      (the same file: same device and inode); and, for a ``directory`` output, it holds none of them.

    ``inputs`` may hold ``None`` and names that are not files (``-``, ``dataset:NAME``): they are
    skipped. Data folders are not searched: an image reader reads only images, never a table written
    beside them.
    """
    path = Path(path)
    if suffixes is not None and not path.name.lower().endswith(tuple(suffixes)):
        raise ValueError(f"Cannot write {str(path)!r}: unknown output type; use {_either(suffixes)}.")
    if not directory and path.is_dir():
        raise ValueError(f"Cannot write {str(path)!r}: it is a directory; give a file name.")
    if directory and path.exists() and not path.is_dir():
        raise ValueError(f"Cannot write the folder {str(path)!r}: a file of that name exists; give a folder path.")
    check_output_folder(path)
    try:
        target = os.stat(path)
    except OSError:  # nothing there yet (or a dangling link): it cannot be an input
        return path
    same = (target.st_dev, target.st_ino)
    folders = [Path(f) for f in folders if f is not None]
    for source in [*inputs, *folders]:
        if source is None or str(source) in ("", "-") or str(source).startswith("dataset:"):
            continue
        source = Path(source)
        if _same_file(source, same):
            raise ValueError(
                f"Cannot write {str(path)!r}: it is the input {_named(source, path)}(writing "
                "would destroy it); give another output path."
            )
        if source in folders and not directory and _holds(source, same):
            raise ValueError(
                f"Cannot write {str(path)!r}: it is a file of the input {str(source)!r} (writing "
                "would destroy it); give another output path."
            )
        if directory and path.is_dir() and _inside(source, same):
            raise ValueError(
                f"Cannot write {str(path)!r}: it holds the input {str(source)!r}, which writing "
                "would destroy; give another output path."
            )
    return path


def _either(suffixes: Sequence[str]) -> str:
    names = list(dict.fromkeys(s for s in suffixes if s != ".pq"))
    return " or ".join(names) if len(names) < 3 else ", ".join(names[:-1]) + " or " + names[-1]


def _named(source: Path, path: Path) -> str:
    return "" if source == path else f"{str(source)!r} "


def _identity(path) -> tuple[int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_dev, stat.st_ino


def _same_file(source: Path, same: tuple[int, int]) -> bool:
    return _identity(source) == same


def _holds(folder: Path, same: tuple[int, int]) -> bool:
    """Whether a file under ``folder`` is the file ``same`` (walked only when the output exists)."""
    for root, _, files in os.walk(folder):
        if any(_identity(os.path.join(root, name)) == same for name in files):
            return True
    return False


def _inside(source: Path, same: tuple[int, int]) -> bool:
    """Whether ``source`` lies in the folder ``same`` (or one below it)."""
    return any(_identity(parent) == same for parent in Path(os.path.abspath(source)).parents)


#: Our temporary files: ``.NAME.PID.XXXXXXXX.tmp`` (PID of the writer; eight random characters).
_TEMPORARY = ".{name}.{pid}."


def _stale_temporaries(path: Path) -> list[Path]:
    """Our temporary files for ``path`` whose writer is no longer running on this machine."""
    pattern = re.compile(rf"\.{re.escape(path.name)}\.(\d+)\.[a-z0-9_]{{8}}\.tmp")
    folder = path.parent if str(path.parent) else Path(".")
    stale = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match and entry.is_file(follow_symlinks=False) and not _running(int(match.group(1))):
            stale.append(Path(entry.path))
    return stale


def _running(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True  # someone else's process, or a number we cannot ask about: leave its file alone
    return True


class Terminated(SystemExit):
    """Raised in the main thread by SIGTERM or SIGHUP while a temporary file is open, so that it is removed."""


@contextmanager
def _removed_on_termination():
    """While the block runs, SIGTERM and SIGHUP raise :class:`Terminated` (exit 128 + signal) instead of
    killing the process outright; the previous handlers come back afterwards.

    Only where the signal would otherwise kill the process (its default handler) and only in the main
    thread (the one that Python runs handlers in); a program's own handlers are left alone.
    """
    installed = {}
    if threading.current_thread() is threading.main_thread():
        for number in (signal.SIGTERM, signal.SIGHUP):
            if signal.getsignal(number) is signal.SIG_DFL:
                installed[number] = signal.signal(number, _terminate)
    try:
        yield
    finally:
        for number, previous in installed.items():
            signal.signal(number, previous)


def _terminate(number, frame) -> None:
    signal.signal(number, signal.SIG_DFL)  # a second signal kills at once
    raise Terminated(128 + number)


def output_file_mode() -> int:
    """The mode of a new output file: 0o666 less the process's umask, as for any program's output."""
    try:  # Linux tells the umask without changing it
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return 0o666 & ~int(line.split()[1], 8)
    except OSError:
        pass
    umask = os.umask(0o022)  # elsewhere: read it by setting it, and put it back at once
    os.umask(umask)
    return 0o666 & ~umask


def atomic_write(path, write: Callable[[str], None]) -> Path:
    """Call ``write(temporary_path)`` on a file in the same folder, then rename it to ``path``.

    A failure leaves no half-written file behind, and an earlier file at ``path`` stays intact.
    The temporary file is ``.NAME.PID.XXXXXXXX.tmp`` beside ``path`` (``PID``: the writing process). It
    is removed when ``write`` raises, on Ctrl-C, and on SIGTERM or SIGHUP (the process then exits with
    128 + the signal's number); a process killed outright (SIGKILL, a power cut) cannot remove it, so
    each write first removes the temporary files for the same ``path`` whose process is no longer
    running on this machine. Files of a writer that is still running are never touched.
    """
    path = check_output(path)
    for stale in _stale_temporaries(path):
        stale.unlink(missing_ok=True)
    with _removed_on_termination():
        handle, temporary = tempfile.mkstemp(
            prefix=_TEMPORARY.format(name=path.name, pid=os.getpid()), suffix=".tmp", dir=path.parent
        )
        os.close(handle)
        try:
            write(temporary)
            os.chmod(temporary, output_file_mode())  # mkstemp creates 0600; outputs follow the umask
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
    return path


__all__ = ["check_output", "check_output_folder", "atomic_write", "output_file_mode", "Terminated"]
