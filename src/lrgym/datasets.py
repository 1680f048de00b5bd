"""Reading datasets from disk (torchvision's classes and file formats) or generating them.

Files live under a data root: the `data_root` option, else `$LRGYM_DATA`, else the user cache
directory. Nothing is downloaded unless `download=True` is asked for, and then under a file
lock so that parallel workers (vector envs, Ray tasks) do not race. A missing or corrupt
dataset raises `DatasetError`, which names the path, what was expected and how to get it; so
does a data root that is not a directory, or one that cannot be written when a download or an
unpacking has to write into it (nothing is created or changed then).
Each dataset is read once per process (`load_dataset` is cached); so is what a dataset factory
returns (see `lrgym.factories`), which `lrgym.factory_data` checks.
"""

from __future__ import annotations

import gzip
import os
import pickle
import shutil
import tarfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from filelock import FileLock
from torchvision import datasets as tvd

from lrgym import factories, synthetic
from lrgym.config import FILE_DATASETS, DatasetInfo, LRTuningConfig

# Where the Debian package `dataset-fashion-mnist` installs the gzip'd IDX files.
DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")


class DatasetError(RuntimeError):
    """A dataset is missing, incomplete or corrupt; the message says where and how to fix it."""


@dataclass(frozen=True)
class RawDataset:
    """A whole dataset in memory: uint8 NCHW images and int64 labels, on the CPU."""

    train_images: torch.Tensor
    train_labels: torch.Tensor
    test_images: torch.Tensor
    test_labels: torch.Tensor


def resolve_data_root(data_root: str | os.PathLike | None) -> Path:
    """`data_root` if given, else `$LRGYM_DATA`, else `$XDG_CACHE_HOME/lrgym` (~/.cache/lrgym)."""
    if data_root is not None:
        return Path(data_root).expanduser()
    if os.environ.get("LRGYM_DATA"):
        return Path(os.environ["LRGYM_DATA"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "lrgym"


ROOT_HELP = (
    "Point data_root (or $LRGYM_DATA) at a directory that holds the dataset, or at one you can "
    "write to and pass download=True"
)


def check_data_root(root: Path) -> None:
    """Raises `DatasetError` unless `root` is a directory or a path where one can be made."""
    for path in (root, *root.parents):
        if path.is_dir():
            return
        if path.exists() or path.is_symlink():  # a file, or a link to nothing, where a directory must be
            where = "it" if path == root else f"its parent {path}"
            raise DatasetError(f"data root {root} is not a directory: {where} is a file. {ROOT_HELP}.")


def _unwritable(root: Path, exc: OSError) -> DatasetError:
    return DatasetError(
        f"cannot write into the data root {root}: {type(exc).__name__}: {exc}. lrgym writes there only "
        f"to download or unpack a dataset. {ROOT_HELP}, or put the dataset's files there yourself."
    )


def _make_dir(path: Path, root: Path) -> None:
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _unwritable(root, exc) from exc


def _lock(root: Path, name: str) -> FileLock:
    """The file lock of dataset `name` in `root`, which is created if needed.

    The lock file is made here first: filelock retries forever on one it cannot create (under
    /proc, for example), where this raises `DatasetError`.
    """
    _make_dir(root, root)
    lock = root / f".{name}.lock"
    try:
        lock.touch(exist_ok=True)
    except OSError as exc:
        raise _unwritable(root, exc) from exc
    return FileLock(str(lock))


# What a failed download can raise: network errors (URLError is an OSError), torchvision's
# checksum and mirror errors (RuntimeError), a bad URL (ValueError), a broken archive.
_DOWNLOAD_ERRORS = (OSError, RuntimeError, ValueError, EOFError, tarfile.TarError, zlib.error)


def _fetch(cls: type, root: Path, title: str, offline_help: str) -> None:
    """Runs torchvision's `cls.download()` (a no-op when the files are there) into `root`.

    Only the download runs, not the parsing a constructor would do, so that the file lock around
    this call is held no longer than fetching takes. Failures become `DatasetError`.
    """
    files = cls.__new__(cls)
    files.root = str(root)
    source = getattr(cls, "url", None) or " or ".join(getattr(cls, "mirrors", ()))
    try:
        files.download()
    except _DOWNLOAD_ERRORS as exc:
        raise DatasetError(
            f"downloading {title} from {source} into {root} failed: {type(exc).__name__}: {exc}. "
            f"{offline_help}"
        ) from exc


# --- CIFAR ---------------------------------------------------------------------------------


class _CIFAR10Files(tvd.CIFAR10):
    """torchvision's CIFAR-10 reader, with integrity judged by parsing rather than by MD5.

    torchvision only accepts files whose MD5 equals the official archive's; lrgym checks the
    pickled arrays themselves instead (shapes, dtypes, label range), so that a corrupt file
    gets an error naming it, and small files in the same format can be read too.
    """

    def _check_integrity(self) -> bool:
        folder = Path(self.root) / self.base_folder
        return all((folder / name).is_file() for name, _ in self.train_list + self.test_list)

    def _load_meta(self) -> None:  # class names are not needed; skip the MD5-checked meta file
        self.classes = []


class _CIFAR100Files(tvd.CIFAR100, _CIFAR10Files):
    pass


CIFAR_CLASSES = {"cifar10": _CIFAR10Files, "cifar100": _CIFAR100Files}
CIFAR_HOME = {
    "cifar10": (
        "CIFAR-10",
        "cifar-10-python.tar.gz",
        "https://www.cs.toronto.edu/~kriz/cifar.html",
    ),
    "cifar100": (
        "CIFAR-100",
        "cifar-100-python.tar.gz",
        "https://www.cs.toronto.edu/~kriz/cifar.html",
    ),
}


def _cifar_split(cls: type, root: Path, train: bool, num_classes: int) -> tuple[torch.Tensor, torch.Tensor]:
    folder = root / cls.base_folder
    files = [folder / name for name, _ in (cls.train_list if train else cls.test_list)]
    try:
        ds = cls(str(root), train=train, download=False)
    except (
        pickle.UnpicklingError,
        EOFError,
        KeyError,
        IndexError,
        ValueError,
        TypeError,
        AttributeError,
        ImportError,
        OverflowError,
    ) as exc:
        raise DatasetError(
            f"corrupt CIFAR file among {[str(f) for f in files]}: {type(exc).__name__}: {exc}. "
            "Expected python pickle batches holding 'data' (N x 3072 uint8) and 'labels' or "
            f"'fine_labels'. Delete {folder} and get the dataset again."
        ) from exc
    images = np.asarray(ds.data)
    labels = np.asarray(ds.targets)
    if images.dtype != np.uint8 or images.ndim != 4 or len(labels) != len(images):
        raise DatasetError(
            f"corrupt CIFAR files in {folder}: images {images.shape} {images.dtype}, {len(labels)} labels"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= num_classes):
        raise DatasetError(f"corrupt CIFAR files in {folder}: labels outside 0..{num_classes - 1}")
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous(), torch.from_numpy(labels).long()


def _load_cifar(name: str, root: Path, download: bool, num_classes: int) -> RawDataset:
    cls = CIFAR_CLASSES[name]
    folder = root / cls.base_folder
    title, archive, home = CIFAR_HOME[name]
    offline = (
        f"Offline, extract {archive} (from {home}) into {root}, or point data_root / $LRGYM_DATA "
        f"at a directory that holds {cls.base_folder}/."
    )
    if download:
        with _lock(root, name):
            _fetch(cls, root, title, offline)
    missing = [n for n, _ in cls.train_list + cls.test_list if not (folder / n).is_file()]
    if missing:
        raise DatasetError(
            f"{title} not found: {folder} lacks {missing} (CIFAR python pickle batches). "
            f"To get it: pass download=True where the internet is reachable. {offline}"
        )
    train = _cifar_split(cls, root, True, num_classes)
    test = _cifar_split(cls, root, False, num_classes)
    return RawDataset(*train, *test)


# --- MNIST and Fashion-MNIST (IDX files, plain or gzip'd) -------------------------------------

MNIST_CLASSES = {"mnist": tvd.MNIST, "fashion_mnist": tvd.FashionMNIST}
IDX_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)


def _idx_sources(name: str, raw: Path) -> list[Path]:
    sources = [raw]
    if name == "fashion_mnist":
        sources.append(DEBIAN_FASHION_MNIST)
    return sources


def _packed_idx(name: str, raw: Path) -> dict[str, Path]:
    """The .gz copy to unpack for every IDX file that `raw` lacks in plain form."""
    todo = {}
    for filename in IDX_FILES:
        if (raw / filename).is_file():
            continue
        for source in _idx_sources(name, raw):
            packed = source / (filename + ".gz")
            if packed.is_file():
                todo[filename] = packed
                break
    return todo


def _unpack_idx(name: str, root: Path, raw: Path) -> None:
    """Puts plain IDX files into torchvision's raw folder, unpacking .gz copies where needed.

    Takes the file lock only when there is something to unpack, so that a read-only data root
    that already holds the plain files can be read.
    """
    if not _packed_idx(name, raw):
        return
    with _lock(root, name):
        _make_dir(raw, root)
        for filename, packed in _packed_idx(name, raw).items():  # again: another process may be done
            partial = raw / (filename + ".partial")
            try:
                dst = open(partial, "wb")
            except OSError as exc:
                raise _unwritable(root, exc) from exc
            try:
                with dst, gzip.open(packed, "rb") as src:
                    shutil.copyfileobj(src, dst)
                partial.replace(raw / filename)  # atomic: readers never see half a file
            except (OSError, EOFError, zlib.error) as exc:
                partial.unlink(missing_ok=True)
                if isinstance(exc, OSError) and exc.errno is not None:  # the disk, not the archive
                    raise DatasetError(
                        f"cannot unpack {packed} into {raw}: {type(exc).__name__}: {exc}. {ROOT_HELP}."
                    ) from exc
                raise DatasetError(
                    f"corrupt gzip file {packed}: {type(exc).__name__}: {exc}. "
                    "Delete it and get the dataset again."
                ) from exc


def _load_mnist(name: str, root: Path, download: bool) -> RawDataset:
    cls = MNIST_CLASSES[name]
    raw = root / cls.__name__ / "raw"
    offline = f"Offline, copy the IDX files (plain or .gz) into {raw}"
    if name == "fashion_mnist":
        offline += (
            ", or install the Debian package dataset-fashion-mnist (`apt install "
            f"dataset-fashion-mnist`), which lrgym reads from {DEBIAN_FASHION_MNIST}"
        )
    offline += f"; or point data_root / $LRGYM_DATA at a directory that holds {cls.__name__}/raw/."
    _unpack_idx(name, root, raw)
    if download:
        with _lock(root, name):
            _fetch(cls, root, cls.__name__, offline)
    missing = [f for f in IDX_FILES if not (raw / f).is_file()]
    if missing:
        raise DatasetError(
            f"{cls.__name__} not found: {raw} lacks {missing} (IDX format, plain or .gz). "
            f"To get it: pass download=True where the internet is reachable. {offline}"
        )
    num_classes = FILE_DATASETS[name].num_classes
    out = []
    for train in (True, False):
        try:
            ds = cls(str(root), train=train, download=False)
        except (AssertionError, RuntimeError, ValueError, TypeError, KeyError, IndexError) as exc:
            files = [str(raw / f) for f in IDX_FILES[(0 if train else 2) : (2 if train else 4)]]
            raise DatasetError(
                f"corrupt IDX file among {files}: {type(exc).__name__}: {exc}. Expected an IDX "
                "header (magic 0x0803 images / 0x0801 labels) and the data it announces. "
                f"Delete {raw} and get the dataset again."
            ) from exc
        if len(ds.data) != len(ds.targets):
            raise DatasetError(
                f"corrupt IDX files in {raw}: {len(ds.data)} images but {len(ds.targets)} labels"
            )
        if ds.targets.numel() and int(ds.targets.max()) >= num_classes:
            raise DatasetError(f"corrupt IDX label file in {raw}: labels outside 0..{num_classes - 1}")
        out += [ds.data.unsqueeze(1).contiguous(), ds.targets.long()]
    return RawDataset(*out)


# --- entry point ---------------------------------------------------------------------------


def _check_counts(cfg: LRTuningConfig, data: RawDataset, root: Path) -> None:
    info = cfg.dataset_info
    found = (len(data.train_images), len(data.test_images), tuple(data.train_images.shape[1:]))
    expected = (
        info.train_count,
        info.test_count,
        (info.channels, info.image_size, info.image_size),
    )
    if found != expected:
        raise DatasetError(
            f"incomplete {cfg.dataset!r} files under {root}: found {found[0]} training and "
            f"{found[1]} test images of shape {found[2]}, expected {expected[0]} and {expected[1]} "
            f"of shape {expected[2]}. Delete the files and get the dataset again."
        )


def _synthetic_options(cfg: LRTuningConfig) -> tuple:
    """The options of `synthetic.generate`, in its order: what decides a synthetic dataset."""
    return (
        cfg.synthetic_seed,
        cfg.synthetic_train_size,
        cfg.synthetic_test_size,
        cfg.synthetic_image_size,
        cfg.synthetic_channels,
        cfg.synthetic_classes,
        cfg.synthetic_noise,
    )


def _read(cfg: LRTuningConfig) -> RawDataset:
    if factories.is_factory(cfg.dataset):
        return _load_factory(cfg.dataset)
    if cfg.dataset == "synthetic":
        return RawDataset(*synthetic.generate(*_synthetic_options(cfg)))
    root = resolve_data_root(cfg.data_root)
    check_data_root(root)
    if cfg.dataset in CIFAR_CLASSES:
        data = _load_cifar(cfg.dataset, root, cfg.download, cfg.dataset_info.num_classes)
    else:
        data = _load_mnist(cfg.dataset, root, cfg.download)
    _check_counts(cfg, data, root)
    return data


def dataset_key(cfg: LRTuningConfig) -> tuple:
    """The options that identify a dataset's contents (configs that agree share one copy).

    A factory is identified by itself: its spec string, or the callable (hashed by identity).
    """
    if factories.is_factory(cfg.dataset):
        return ("factory", cfg.dataset)
    if cfg.dataset == "synthetic":
        return ("synthetic", *_synthetic_options(cfg))
    return (cfg.dataset, str(resolve_data_root(cfg.data_root)))


_LOADED: dict[tuple, RawDataset] = {}
_FACTORY_INFO: dict[tuple, DatasetInfo] = {}


def _load_factory(value: str | Callable[..., Any]) -> RawDataset:
    """A dataset factory's data, called once per process (its facts are kept beside it)."""
    key = ("factory", value)
    if key not in _LOADED:
        from lrgym.factory_data import read_factory  # it imports this module

        _LOADED[key], _FACTORY_INFO[key] = read_factory(value)
    return _LOADED[key]


def factory_dataset_info(value: str | Callable[..., Any]) -> DatasetInfo:
    """Channels, image size, classes and counts of a dataset factory's data (loaded if need be).

    Raises:
        DatasetError: the factory fails or returns no valid dataset (see `lrgym.factory_data`).
    """
    _load_factory(value)
    return _FACTORY_INFO[("factory", value)]


def load_dataset(cfg: LRTuningConfig) -> RawDataset:
    """The whole configured dataset on the CPU, read (or generated) once per process."""
    key = dataset_key(cfg)
    if key not in _LOADED:
        _LOADED[key] = _read(cfg)
    return _LOADED[key]
