"""Image readers: IDX files (the MNIST family's format, gzipped or not) and folders of PNG/JPEG.

Images come back as ``uint8`` arrays ``(n, height, width)`` for grayscale or
``(n, height, width, channels)`` for colour, the layout :class:`~aedetect.AutoencoderDetector`
takes.
"""

from __future__ import annotations

import gzip
import re
from pathlib import Path

import numpy as np

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp")
# IDX type codes (the third byte of the magic number) -> NumPy big-endian dtypes.
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
NORMAL_FOLDER, ANOMALY_FOLDER = "normal", "anomaly"


def is_idx(path) -> bool:
    name = Path(path).name.lower()
    return "idx" in name and (name.endswith(".gz") or "ubyte" in name or name.endswith(".idx"))


def read_idx(path) -> np.ndarray:
    """Read an IDX file (``.gz`` or plain): images ``(n, rows, cols)`` or labels ``(n,)``.

    Examples
    --------
    >>> import gzip, struct, tempfile, os
    >>> folder = tempfile.mkdtemp()
    >>> path = os.path.join(folder, "tiny-idx3-ubyte.gz")
    >>> with gzip.open(path, "wb") as handle:
    ...     _ = handle.write(struct.pack(">BBBBIII", 0, 0, 8, 3, 2, 2, 2) + bytes(range(8)))
    >>> read_idx(path).tolist()
    [[[0, 1], [2, 3]], [[4, 5], [6, 7]]]
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"No such IDX file: {str(path)!r}; check the path.")
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            raw = handle.read()
    except (OSError, EOFError) as error:
        raise ValueError(f"Cannot read {str(path)!r} as an IDX file ({error}); give an uncorrupted IDX file.") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        raise ValueError(f"{str(path)!r} is not an IDX file (bad magic number); give an MNIST-style IDX file.")
    dims = raw[3]
    header = 4 + 4 * dims
    shape = tuple(int(v) for v in np.frombuffer(raw[4:header], dtype=">u4")) if dims else ()
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    expected = int(np.prod(shape)) * dtype.itemsize
    if len(raw) - header != expected:
        raise ValueError(
            f"{str(path)!r} is truncated or damaged: the header promises {expected} bytes of data for shape "
            f"{shape}, the file has {len(raw) - header}; download it again."
        )
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def _load_image(path: Path) -> np.ndarray:
    import warnings

    from PIL import Image, UnidentifiedImageError

    try:
        # PIL warns above Image.MAX_IMAGE_PIXELS and raises above twice that: both are refused, as
        # no image this tool learns from is that large, and decoding one could exhaust the memory.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.load()
                if image.mode not in ("L", "RGB", "RGBA"):
                    image = image.convert("RGBA" if "A" in image.getbands() else "RGB")
                return np.asarray(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as error:
        pixels = re.search(r"\((\d+) pixels\)", str(error))
        size = f" ({int(pixels.group(1)):,} pixels, over PIL's limit of {Image.MAX_IMAGE_PIXELS:,})" if pixels else ""
        raise ValueError(
            f"The image {str(path)!r} is too large to read safely{size}: it may be a decompression bomb; "
            "remove it, or shrink it to the size of the other images."
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError) as error:
        raise ValueError(
            f"Cannot read the image {str(path)!r} ({type(error).__name__}); remove or replace it."
        ) from None


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def read_image_folder(folder) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """Read a folder of images: ``(images, labels, file names)``.

    Either the images lie in the folder itself (all normal, ``labels`` is ``None``), or it has
    ``normal/`` and ``anomaly/`` sub-folders (labels 0 and 1). Every image must have the same size
    and channels; grayscale stays ``(n, h, w)``, colour is ``(n, h, w, channels)``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"No such image folder: {str(folder)!r}; check the path.")
    groups = [(folder / NORMAL_FOLDER, 0), (folder / ANOMALY_FOLDER, 1)]
    labelled = any(sub.is_dir() for sub, _ in groups)
    files: list[tuple[Path, int]] = []
    if labelled:
        for sub, label in groups:
            if sub.is_dir():
                files += [(p, label) for p in _image_files(sub)]
    else:
        files = [(p, 0) for p in _image_files(folder)]
    if not files:
        raise ValueError(
            f"No images ({', '.join(IMAGE_SUFFIXES)}) in {str(folder)!r}; put them in the folder itself or in "
            f"'{NORMAL_FOLDER}/' and '{ANOMALY_FOLDER}/' sub-folders."
        )
    images = [_load_image(p) for p, _ in files]
    first = images[0].shape
    for (path, _), image in zip(files, images, strict=True):
        if image.shape != first:
            raise ValueError(
                f"Images of mixed sizes: {files[0][0].name} is {_describe(first)} but {path.name} is "
                f"{_describe(image.shape)}; resize them to one size first."
            )
    names = [str(p.relative_to(folder)) for p, _ in files]
    labels = np.array([label for _, label in files], dtype=np.int64) if labelled else None
    return np.stack(images), labels, names


def _describe(shape: tuple[int, ...]) -> str:
    size = f"{shape[1]}x{shape[0]}"
    return size if len(shape) == 2 else f"{size} with {shape[2]} channels"
