"""Model folders on disk: staged writes that only ever replace a model, manifests read with limits and
sealed by their SHA-256, and recovery from a save that was killed half-way.

A save writes the new folder under a temporary name beside the target (``.NAME.PID.RANDOM.tmp``) and
then swaps it in. On Linux the swap is one ``renameat2(RENAME_EXCHANGE)``, so a reader always finds a
whole model at the path; elsewhere (or on a file system without it) the old folder is first renamed
aside to ``.NAME.PID.RANDOM.old/model``, and if the process dies before the new one takes its place,
the next :func:`recover_missing` (run by every load) puts the old one back.

Temporary folders of a killed save are removed by the next save to the same path when they are
abandoned: untouched for :data:`ABANDONED_AFTER_S` and the process named in them is no longer running
(or they carry no process id: the names of earlier aedetect versions), or untouched for a day. The
process check only sees this machine, so on a shared network folder it is the age that protects a
concurrent save elsewhere; a save that is still running is never touched.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import json
import os
import re
import secrets
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

CONFIG_FILE = "model.json"
WEIGHTS_FILE = "weights.safetensors"
ENSEMBLE_FILE = "ensemble.json"  # marks a folder of member models (see aedetect.ensemble)
MODEL_FORMAT = "aedetect-model"
ENSEMBLE_FORMAT = "aedetect-ensemble"
SEAL_KEY = "manifest_sha256"
#: Largest manifest read. A model's JSON is a few kB to a few MB (feature names, categories, history;
#: an ensemble's also holds its held-out scores, ~20 bytes each); the cap keeps a hostile file from
#: costing more than a few hundred MB of memory to parse.
MAX_MANIFEST_BYTES = 32 << 20
ABANDONED_AFTER_S = 10 * 60
FORGOTTEN_AFTER_S = 24 * 60 * 60


class ModelFileError(ValueError):
    """A model directory is missing, damaged, tampered with or from an incompatible version."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def manifest_sha256(manifest: dict) -> str:
    """SHA-256 of the manifest's canonical JSON (sorted keys, no spaces), its own seal left out."""
    body = {key: value for key, value in manifest.items() if key != SEAL_KEY}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def seal(manifest: dict) -> dict:
    """``manifest`` with its seal; a round trip through JSON first, so that it hashes as it reads back."""
    manifest = json.loads(json.dumps(manifest))
    manifest[SEAL_KEY] = manifest_sha256(manifest)
    return manifest


def read_manifest(path: Path, expected_format: str) -> dict:
    """Read a manifest: size-capped, a JSON object of ``expected_format``, its seal checked.

    A manifest without a seal was written before aedetect sealed them (same format version) and is
    accepted; one whose seal does not match was edited after saving.
    """
    where = repr(str(path))
    size = path.stat().st_size
    if size > MAX_MANIFEST_BYTES:
        raise ModelFileError(
            f"The model file {where} is {size:,} bytes, more than a manifest can be "
            f"({MAX_MANIFEST_BYTES:,}); restore the file that aedetect wrote or re-train."
        )
    try:
        manifest = json.loads(path.read_bytes())
    except RecursionError:
        raise ModelFileError(
            f"The model file {where} is damaged (JSON nested too deeply); re-train or restore it."
        ) from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ModelFileError(
            f"The model file {where} is damaged (not valid JSON: {error}); re-train or restore it."
        ) from None
    if not isinstance(manifest, dict) or manifest.get("format") != expected_format:
        raise ModelFileError(f"{where} is not an aedetect model file; re-train or restore it.")
    if SEAL_KEY in manifest and manifest[SEAL_KEY] != manifest_sha256(manifest):
        raise ModelFileError(
            f"The model file {where} does not match its recorded checksum (edited after "
            "saving); restore the file that aedetect wrote or re-train."
        )
    return manifest


def check_member_name(folder: Path, name) -> Path:
    """The member folder ``name`` of the ensemble in ``folder``: one plain sub-folder name, no link."""
    plain = (
        isinstance(name, str)
        and name not in ("", ".", "..")
        and "/" not in name
        and "\\" not in name
        and "\0" not in name
        and (os.altsep is None or os.altsep not in name)
    )
    if not plain:
        raise ModelFileError(
            f"The ensemble at {str(folder)!r} names the member {name!r}; a member must be a "
            "sub-folder name of the ensemble folder. Re-train or restore the ensemble."
        )
    member = folder / name
    if member.is_symlink() or not member.is_dir():
        raise ModelFileError(
            f"The ensemble at {str(folder)!r} has no member folder {name!r} (missing or a link); "
            "re-train or restore the ensemble."
        )
    return member


# -- what may be replaced ---------------------------------------------------------------------------
def _not_a_model(folder: Path, ensemble_allowed: bool = True) -> str | None:
    """Why ``folder`` is not (only) a saved model, or None when it is one or is empty."""
    entries = sorted(os.listdir(folder))
    if not entries:
        return None
    ours = {CONFIG_FILE, WEIGHTS_FILE}
    members: list[Path] = []
    try:
        if CONFIG_FILE in entries:
            read_manifest(folder / CONFIG_FILE, MODEL_FORMAT)
        elif ensemble_allowed and ENSEMBLE_FILE in entries:
            names = read_manifest(folder / ENSEMBLE_FILE, ENSEMBLE_FORMAT).get("members")
            members = [check_member_name(folder, name) for name in (names if isinstance(names, list) else [])]
            ours = {ENSEMBLE_FILE, *(member.name for member in members)}
        else:
            return f"it holds {_some(entries)}"
    except (ModelFileError, OSError):
        return "its manifest is not one that aedetect wrote"
    others = [entry for entry in entries if entry not in ours]
    if others:
        return f"besides the model it holds {_some(others)}"
    for member in members:
        if (why := _not_a_model(member, ensemble_allowed=False)) is not None:
            return f"its member {member.name!r}: {why}"
    return None


def _some(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def check_save_target(path) -> Path:
    """Fail before any work when a model cannot be saved to ``path``.

    Saving replaces the whole folder, so the folder may be new, empty or a saved model (nothing else
    in it); anything else is refused rather than deleted.
    """
    target = Path(path)
    if target.is_symlink():
        raise ModelFileError(f"Cannot save the model to {str(target)!r}: it is a symbolic link; give the real folder.")
    if target.exists() and not target.is_dir():
        raise ModelFileError(
            f"Cannot save the model to {str(target)!r}: a file of that name exists; choose a directory path."
        )
    parent = target.parent
    if not parent.is_dir():
        raise ModelFileError(f"Cannot save the model: the folder {str(parent)!r} does not exist; create it first.")
    if not os.access(parent, os.W_OK):
        raise ModelFileError(f"Cannot save the model: no write permission in {str(parent)!r}.")
    if target.is_dir() and (why := _not_a_model(target)) is not None:
        raise ModelFileError(
            f"Cannot save the model to {str(target)!r}: the folder exists and is not an aedetect model ({why}), "
            "and saving replaces the whole folder; choose a new or empty folder, or move its files away first."
        )
    return target


# -- temporary folders ------------------------------------------------------------------------------
def _fresh_folder(parent: Path, name: str, suffix: str) -> Path:
    """A new folder ``.NAME.PID.RANDOM.SUFFIX``; ``mkdir`` gives it 0o777 & ~umask like any output."""
    while True:
        folder = parent / f".{name}.{os.getpid()}.{secrets.token_hex(4)}.{suffix}"
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue


def _ours(parent: Path, name: str, suffix: str) -> Iterator[tuple[Path, int | None]]:
    """Our temporary folders for ``name`` in ``parent``, with the process id in their name (None for
    the ``mkdtemp`` names of earlier aedetect versions, which recorded none)."""
    pattern = re.compile(rf"\.{re.escape(name)}\.(?:(\d+)\.[0-9a-f]{{8}}|[a-z0-9_]{{8}})\.{suffix}")
    try:
        entries = list(os.scandir(parent))
    except OSError:
        return
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match and entry.is_dir(follow_symlinks=False):
            yield Path(entry.path), (int(match.group(1)) if match.group(1) else None)


def _running(pid: int | None) -> bool:
    """Whether the process that named a folder may still be writing it (None: unknown, only age can tell)."""
    from aedetect.data.outputs import _running as running  # one rule for outputs and models

    return pid is not None and (os.name != "posix" or running(pid))


def _abandoned(folder: Path, pid: int | None) -> bool:
    try:
        age = time.time() - folder.lstat().st_mtime
    except OSError:
        return False
    return age > FORGOTTEN_AFTER_S or (age > ABANDONED_AFTER_S and not _running(pid))


def remove_abandoned(target: Path) -> None:
    """Remove temporary folders that a killed save to ``target`` left beside it (see the module doc)."""
    for suffix in ("tmp", "old"):
        for folder, pid in _ours(target.parent, target.name, suffix):
            if _abandoned(folder, pid):
                shutil.rmtree(folder, ignore_errors=True)


def recover_missing(target: Path) -> None:
    """Put back the model that a save killed between its two renames left aside, if ``target`` is gone."""
    if os.path.lexists(target) or not target.parent.is_dir():
        return
    candidates = [
        (folder, pid) for folder, pid in _ours(target.parent, target.name, "old") if (folder / "model").is_dir()
    ]
    if not candidates:
        return
    if any(_running(pid) for _, pid in candidates):
        raise ModelFileError(f"No model at {str(target)!r} right now: a save is replacing it; try again in a moment.")
    newest = max(candidates, key=lambda candidate: candidate[0].lstat().st_mtime)[0]
    try:
        os.rename(newest / "model", target)
    except OSError:
        return  # another process got there first
    shutil.rmtree(newest, ignore_errors=True)


# -- the swap ---------------------------------------------------------------------------------------
def _exchange(first: Path, second: Path) -> bool:
    """Swap two paths in one step (Linux ``renameat2`` with ``RENAME_EXCHANGE``); False where unsupported."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), rename_exchange) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(second))


def _replace(staging: Path, target: Path) -> None:
    if not os.path.lexists(target):
        os.rename(staging, target)
        return
    if _exchange(staging, target):
        shutil.rmtree(staging, ignore_errors=True)  # it now holds the old model
        return
    aside = _fresh_folder(target.parent, target.name, "old")
    os.rename(target, aside / "model")
    try:
        os.rename(staging, target)
    except BaseException:
        os.rename(aside / "model", target)
        shutil.rmtree(aside, ignore_errors=True)
        raise
    shutil.rmtree(aside, ignore_errors=True)


@contextmanager
def staged_directory(path) -> Iterator[Path]:
    """A fresh temporary folder beside ``path``, swapped in for ``path`` when the block ends without an
    error and removed when it raises. Only a saved model (or an empty folder) is ever replaced."""
    from aedetect.data.outputs import _removed_on_termination

    target = check_save_target(path)
    remove_abandoned(target)
    with _removed_on_termination():  # SIGTERM / SIGHUP raise, so the staging folder is removed too
        staging = _fresh_folder(target.parent, target.name, "tmp")
        try:
            yield staging
            check_save_target(target)  # it may have changed while the model was written
            _replace(staging, target)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise


def file_mode(folder: Path) -> int:
    """The mode for a new file in ``folder`` made by :func:`_fresh_folder`: 0o666 & ~umask."""
    return folder.stat().st_mode & 0o666


__all__ = [
    "ModelFileError",
    "check_save_target",
    "staged_directory",
    "read_manifest",
    "seal",
    "manifest_sha256",
    "recover_missing",
    "check_member_name",
    "sha256_file",
    "file_mode",
]
