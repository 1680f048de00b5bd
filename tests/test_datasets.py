"""Tests of dataset loading (`lrgym.datasets`) on small files written in the real formats.

CIFAR batches are written as the originals were: Python 2 cPickle dicts (protocol 2) whose str
keys and raw pixel strings load in Python 3 only with `encoding="latin1"`, which is how
torchvision reads them. MNIST and Fashion-MNIST are IDX files, plain or gzip'd, in torchvision's
folder layout. Downloads go through torchvision's download code, served by a local HTTP server
(the tests need no internet).
"""

from __future__ import annotations

import errno
import functools
import gzip
import hashlib
import http.server
import pickle
import struct
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import filelock
import numpy as np
import pytest
import torch
from torchvision import datasets as tvd
from torchvision.datasets import cifar as tv_cifar

from lrgym import config as lrconfig
from lrgym import datasets
from lrgym.config import DatasetInfo, LRTuningConfig
from lrgym.datasets import DatasetError, RawDataset, dataset_key, load_dataset, resolve_data_root

CIFAR_FOLDERS = {"cifar10": "cifar-10-batches-py", "cifar100": "cifar-100-python"}
MNIST_FOLDERS = {"mnist": "MNIST", "fashion_mnist": "FashionMNIST"}
TRAIN_SIZES = (3, 2, 4, 1, 2)  # images in CIFAR-10's five training batches
TEST_SIZE = 3


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keeps every test off the machine's datasets, its cache directory and the process cache."""
    monkeypatch.setattr(datasets, "DEBIAN_FASHION_MNIST", tmp_path / "debian-fashion-mnist")
    monkeypatch.setattr(datasets, "_LOADED", {})
    monkeypatch.delenv("LRGYM_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def _assert_same(got: RawDataset, want: RawDataset) -> None:
    """Same dtypes, shapes and values in all four tensors."""
    for field in ("train_images", "train_labels", "test_images", "test_labels"):
        a, b = getattr(got, field), getattr(want, field)
        assert a.dtype == b.dtype, field
        assert a.shape == b.shape, field
        assert torch.equal(a, b), field


# --- writers of the real formats -------------------------------------------------------------


def _py2(obj: Any) -> bytes:
    """The opcodes Python 2's cPickle (protocol 2) wrote for `obj` (no memo)."""
    if obj is None:
        return b"N"
    if isinstance(obj, bool):
        return b"\x88" if obj else b"\x89"
    if isinstance(obj, int):
        return b"J" + struct.pack("<i", obj)
    if isinstance(obj, (str, bytes)):  # a Python 2 str: BINSTRING
        raw = obj.encode("latin1") if isinstance(obj, str) else obj
        return b"T" + struct.pack("<I", len(raw)) + raw
    if isinstance(obj, tuple):
        return b"(" + b"".join(map(_py2, obj)) + b"t"
    if isinstance(obj, list):
        return b"](" + b"".join(map(_py2, obj)) + b"e"
    if isinstance(obj, dict):
        return b"}(" + b"".join(_py2(k) + _py2(v) for k, v in obj.items()) + b"u"
    if isinstance(obj, np.ndarray) and obj.dtype == np.uint8:
        # numpy.dtype("u1", 0, 1), then its state set by BUILD.
        dtype = b"cnumpy\ndtype\n" + _py2(("u1", 0, 1)) + b"R"
        dtype += _py2((3, "|", None, None, None, -1, -1, 0)) + b"b"
        # _reconstruct(ndarray, (0,), "b"), then BUILD with (version, shape, dtype, fortran, pixels);
        # the pixels are a Python 2 str, which is why Python 3 needs encoding="latin1".
        empty = b"cnumpy.core.multiarray\n_reconstruct\n(cnumpy\nndarray\n" + _py2((0,)) + _py2("b") + b"tR"
        state = b"(" + _py2(1) + _py2(obj.shape) + dtype + _py2(False) + _py2(obj.tobytes()) + b"t"
        return empty + state + b"b"
    raise TypeError(f"cannot write {type(obj)}")


def py2_pickle(obj: Any) -> bytes:
    """`obj` as the original CIFAR python batches were written (Python 2, protocol 2)."""
    return b"\x80\x02" + _py2(obj) + b"."


def write_cifar(root: Path, name: str, rng: np.random.Generator) -> RawDataset:
    """A small copy of CIFAR-10/100's python version under `root`; returns what it holds."""
    ten = name == "cifar10"
    folder = root / CIFAR_FOLDERS[name]
    folder.mkdir(parents=True)
    num_classes = 10 if ten else 100
    if ten:
        files = [f"data_batch_{i + 1}" for i in range(5)] + ["test_batch"]
        sizes = [*TRAIN_SIZES, TEST_SIZE]
    else:
        files, sizes = ["train", "test"], [sum(TRAIN_SIZES), TEST_SIZE]
    images, labels = [], []
    for filename, n in zip(files, sizes, strict=True):
        x = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
        y = rng.integers(0, num_classes, n).tolist()
        # A row of 'data' is the 1024 red values (row-major), then green, then blue: NCHW flattened.
        batch: dict[str, Any] = {"batch_label": f"{filename} of 2", "data": x.reshape(n, 3072)}
        if ten:
            batch["labels"] = y
        else:  # the coarse labels differ from the fine ones, which are the ones to read
            batch["fine_labels"], batch["coarse_labels"] = y, [v // 5 for v in y]
        batch["filenames"] = [f"image_{i}.png" for i in range(n)]
        (folder / filename).write_bytes(py2_pickle(batch))
        images.append(x)
        labels.append(y)
    if ten:
        meta = {"num_cases_per_batch": 10000, "label_names": [f"c{i}" for i in range(10)], "num_vis": 3072}
        (folder / "batches.meta").write_bytes(py2_pickle(meta))
    else:
        meta = {"fine_label_names": [f"f{i}" for i in range(100)], "coarse_label_names": ["c"] * 20}
        (folder / "meta").write_bytes(py2_pickle(meta))
    return RawDataset(
        torch.from_numpy(np.concatenate(images[:-1])),
        torch.tensor(sum(labels[:-1], []), dtype=torch.int64),
        torch.from_numpy(images[-1]),
        torch.tensor(labels[-1], dtype=torch.int64),
    )


def cifar10_archive(folder: Path, rng: np.random.Generator) -> tuple[str, RawDataset]:
    """cifar-10-python.tar.gz as distributed (cifar-10-batches-py/ at its top) in `folder`.

    Returns the archive's MD5 and the data it holds.
    """
    source = folder.parent / "archive-source"
    expected = write_cifar(source, "cifar10", rng)
    archive = folder / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source / "cifar-10-batches-py", arcname="cifar-10-batches-py")
    return hashlib.md5(archive.read_bytes()).hexdigest(), expected


def idx(array: np.ndarray, magic: int | None = None) -> bytes:
    """An IDX file: magic 0x000008NN (unsigned bytes, NN dimensions), big-endian int32 sizes, data."""
    magic = 0x0800 + array.ndim if magic is None else magic
    return struct.pack(f">i{array.ndim}i", magic, *array.shape) + array.astype(np.uint8).tobytes()


def write_idx(folder: Path, rng: np.random.Generator, gz: bool, n_train: int = 5) -> RawDataset:
    """The four (Fashion-)MNIST IDX files, plain or .gz, in `folder`; returns what they hold."""
    folder.mkdir(parents=True, exist_ok=True)
    splits = []
    for prefix, n in (("train", n_train), ("t10k", TEST_SIZE)):
        x = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        y = rng.integers(0, 10, n, dtype=np.uint8)
        for filename, array in ((f"{prefix}-images-idx3-ubyte", x), (f"{prefix}-labels-idx1-ubyte", y)):
            if gz:
                (folder / (filename + ".gz")).write_bytes(gzip.compress(idx(array)))
            else:
                (folder / filename).write_bytes(idx(array))
        splits += [torch.from_numpy(x).unsqueeze(1), torch.from_numpy(y).long()]
    return RawDataset(*splits)


def raw_folder(root: Path, name: str) -> Path:
    return root / MNIST_FOLDERS[name] / "raw"


class Served(NamedTuple):
    url: str  # base URL, no trailing slash
    folder: Path  # what the server serves
    requests: list[str]  # paths requested so far


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Served]:
    """A local HTTP server over a folder, standing in for the datasets' home pages."""
    folder = tmp_path / "served"
    folder.mkdir()
    requests: list[str] = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(folder), **kwargs)

        def do_GET(self) -> None:
            requests.append(self.path)
            super().do_GET()

        def log_message(self, format: str, *args: Any) -> None:  # keep the test output quiet
            pass

    monkeypatch.setenv("no_proxy", "*")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield Served(f"http://127.0.0.1:{server.server_port}", folder, requests)
    server.shutdown()
    server.server_close()
    thread.join()


# --- CIFAR ----------------------------------------------------------------------------------


def test_cifar_batches_written_like_the_originals() -> None:
    """The writer's files need latin1 to load, like the real ones, and then have str keys."""
    blob = py2_pickle({"data": np.full((1, 3072), 200, np.uint8), "labels": [1]})
    with pytest.raises(UnicodeDecodeError):
        pickle.loads(blob)
    batch = pickle.loads(blob, encoding="latin1")
    assert set(batch) == {"data", "labels"}
    assert batch["data"].dtype == np.uint8 and int(batch["data"][0, 0]) == 200


@pytest.mark.parametrize("name", ["cifar10", "cifar100"])
def test_cifar_reads_all_batches(tmp_path: Path, rng: np.random.Generator, name: str) -> None:
    expected = write_cifar(tmp_path, name, rng)
    got = datasets._load_cifar(name, tmp_path, download=False, num_classes=10 if name == "cifar10" else 100)
    assert got.train_images.shape == (sum(TRAIN_SIZES), 3, 32, 32)
    assert got.train_images.dtype == torch.uint8 and got.train_labels.dtype == torch.int64
    _assert_same(got, expected)


def test_cifar_pixel_order_is_red_green_blue_planes(tmp_path: Path, rng: np.random.Generator) -> None:
    """A row of 'data' is the R plane, then G, then B, each row-major: check one image by hand."""
    write_cifar(tmp_path, "cifar10", rng)
    row = np.concatenate([np.full(1024, 10), np.full(1024, 20), np.full(1024, 30)]).astype(np.uint8)
    row[1] = 201  # red, y=0, x=1
    row[32] = 202  # red, y=1, x=0
    row[1024 + 33] = 203  # green, y=1, x=1
    batch = {"batch_label": "test batch", "labels": [7], "data": row[None], "filenames": ["x.png"]}
    (tmp_path / "cifar-10-batches-py" / "test_batch").write_bytes(py2_pickle(batch))
    image = datasets._load_cifar("cifar10", tmp_path, download=False, num_classes=10).test_images[0]
    assert image.shape == (3, 32, 32)
    assert [int(image[c, 5, 5]) for c in range(3)] == [10, 20, 30]
    assert int(image[0, 0, 1]) == 201 and int(image[0, 1, 0]) == 202 and int(image[1, 1, 1]) == 203


def test_missing_cifar_says_where_and_how(tmp_path: Path) -> None:
    root = tmp_path / "nothing-here"
    with pytest.raises(DatasetError) as info:
        datasets._load_cifar("cifar10", root, download=False, num_classes=10)
    message = str(info.value)
    assert str(root / "cifar-10-batches-py") in message
    assert "data_batch_1" in message and "test_batch" in message  # what was expected
    assert "download=True" in message and "cifar-10-python.tar.gz" in message  # how to get it
    assert "$LRGYM_DATA" in message
    assert not root.exists()  # a failed read creates nothing


def test_partly_missing_cifar_lists_the_missing_files(tmp_path: Path, rng: np.random.Generator) -> None:
    write_cifar(tmp_path, "cifar100", rng)
    (tmp_path / "cifar-100-python" / "test").unlink()
    with pytest.raises(DatasetError, match=r"lacks \['test'\]") as info:
        datasets._load_cifar("cifar100", tmp_path, download=False, num_classes=100)
    assert "cifar-100-python.tar.gz" in str(info.value)


def _bytes_keys(blob: bytes) -> bytes:
    """The batch as Python 3 re-saves it after reading with encoding='bytes' (b'data' keys)."""
    batch = pickle.loads(blob, encoding="bytes")
    return pickle.dumps(batch, protocol=2)


def _relabel(label: int, count: int | None = None) -> Callable[[bytes], bytes]:
    def change(blob: bytes) -> bytes:
        batch = pickle.loads(blob, encoding="latin1")
        n = len(batch["labels"]) if count is None else count
        return py2_pickle({**batch, "labels": [label] * n})

    return change


CIFAR_CORRUPTIONS: dict[str, Callable[[bytes], bytes]] = {
    "truncated pickle": lambda blob: blob[: len(blob) // 2],
    "garbage bytes": lambda blob: b"\x00garbage\xff" * 40,
    "empty file": lambda blob: b"",
    "bytes keys": _bytes_keys,  # torchvision reads the original str keys only
    "short rows": lambda blob: py2_pickle({"labels": [0, 1], "data": np.zeros((2, 3000), np.uint8)}),
    "fewer labels than images": _relabel(0, count=1),
    "label out of range": _relabel(10),
}


@pytest.mark.parametrize("corruption", list(CIFAR_CORRUPTIONS))
def test_corrupt_cifar_names_the_file(tmp_path: Path, rng: np.random.Generator, corruption: str) -> None:
    write_cifar(tmp_path, "cifar10", rng)
    folder = tmp_path / "cifar-10-batches-py"
    target = folder / "data_batch_3"
    target.write_bytes(CIFAR_CORRUPTIONS[corruption](target.read_bytes()))
    with pytest.raises(DatasetError, match="corrupt CIFAR") as info:
        datasets._load_cifar("cifar10", tmp_path, download=False, num_classes=10)
    message = str(info.value)
    assert str(folder) in message
    if corruption in ("truncated pickle", "garbage bytes", "empty file", "bytes keys", "short rows"):
        assert str(target) in message and "Delete" in message


# --- MNIST and Fashion-MNIST ----------------------------------------------------------------


@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gz"])
@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_mnist_reads_idx_files(tmp_path: Path, rng: np.random.Generator, name: str, gz: bool) -> None:
    raw = raw_folder(tmp_path, name)
    expected = write_idx(raw, rng, gz=gz)
    got = datasets._load_mnist(name, tmp_path, download=False)
    assert got.train_images.shape == (5, 1, 28, 28) and got.train_images.dtype == torch.uint8
    assert got.test_labels.dtype == torch.int64
    _assert_same(got, expected)
    if gz:  # unpacked next to the .gz copies, completely
        for filename in datasets.IDX_FILES:
            assert (raw / filename).read_bytes() == gzip.decompress((raw / (filename + ".gz")).read_bytes())
        assert not list(raw.glob("*.partial"))


def test_plain_idx_files_are_read_without_writing(tmp_path: Path, rng: np.random.Generator) -> None:
    """Nothing to unpack, nothing to download: no lock file, so a read-only root works."""
    write_idx(raw_folder(tmp_path, "mnist"), rng, gz=False)
    before = sorted(tmp_path.rglob("*"))
    datasets._load_mnist("mnist", tmp_path, download=False)
    assert sorted(tmp_path.rglob("*")) == before


def test_fashion_mnist_from_the_debian_package(
    tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the data root has no files, the Debian package's .gz files are unpacked into it."""
    debian = tmp_path / "usr-share-datasets-fashion-mnist"
    monkeypatch.setattr(datasets, "DEBIAN_FASHION_MNIST", debian)
    expected = write_idx(debian, rng, gz=True)
    root = tmp_path / "root"
    _assert_same(datasets._load_mnist("fashion_mnist", root, download=False), expected)
    raw = raw_folder(root, "fashion_mnist")
    assert all((raw / filename).is_file() for filename in datasets.IDX_FILES)
    # Files in the data root win over the package's.
    own = write_idx(raw, np.random.default_rng(1), gz=False)
    _assert_same(datasets._load_mnist("fashion_mnist", root, False), own)


def test_mnist_does_not_read_the_fashion_package(
    tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    debian = tmp_path / "usr-share-datasets-fashion-mnist"
    monkeypatch.setattr(datasets, "DEBIAN_FASHION_MNIST", debian)
    write_idx(debian, rng, gz=True)
    with pytest.raises(DatasetError, match="MNIST not found"):
        datasets._load_mnist("mnist", tmp_path / "root", False)


@pytest.mark.parametrize("name", ["mnist", "fashion_mnist"])
def test_missing_mnist_says_where_and_how(tmp_path: Path, name: str) -> None:
    root = tmp_path / "nothing-here"
    with pytest.raises(DatasetError) as info:
        datasets._load_mnist(name, root, download=False)
    message = str(info.value)
    assert str(raw_folder(root, name)) in message
    assert "train-images-idx3-ubyte" in message and "IDX" in message
    assert "download=True" in message and "$LRGYM_DATA" in message
    debian_hint = "dataset-fashion-mnist" in message and str(datasets.DEBIAN_FASHION_MNIST) in message
    assert debian_hint == (name == "fashion_mnist")
    assert not root.exists()


def test_partly_missing_mnist_lists_the_missing_file(tmp_path: Path, rng: np.random.Generator) -> None:
    raw = raw_folder(tmp_path, "mnist")
    write_idx(raw, rng, gz=True)
    (raw / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetError, match=r"lacks \['t10k-labels-idx1-ubyte'\]"):
        datasets._load_mnist("mnist", tmp_path, download=False)


def _labels(values: list[int]) -> Callable[[bytes], bytes]:
    return lambda blob: idx(np.array(values, np.uint8))


IDX_CORRUPTIONS: dict[str, tuple[str, Callable[[bytes], bytes]]] = {
    "wrong magic": ("train-images-idx3-ubyte", lambda b: struct.pack(">i", 0x0804) + b[4:]),
    "signed bytes": ("train-images-idx3-ubyte", lambda b: struct.pack(">i", 0x0903) + b[4:]),
    "unknown type code": ("train-images-idx3-ubyte", lambda b: struct.pack(">i", 0x0A03) + b[4:]),
    "labels as images": ("train-images-idx3-ubyte", lambda b: idx(np.zeros(5, np.uint8))),
    "truncated data": ("train-images-idx3-ubyte", lambda b: b[: len(b) // 2]),
    "truncated header": ("t10k-labels-idx1-ubyte", lambda b: b[:3]),
    "empty file": ("t10k-images-idx3-ubyte", lambda b: b""),
    "garbage": ("train-labels-idx1-ubyte", lambda b: b"garbage!" * 100),
    "fewer labels": ("train-labels-idx1-ubyte", _labels([1, 2, 3, 4])),
    "label out of range": ("train-labels-idx1-ubyte", _labels([1, 2, 3, 4, 10])),
}


@pytest.mark.parametrize("corruption", list(IDX_CORRUPTIONS))
def test_corrupt_idx_names_the_file(tmp_path: Path, rng: np.random.Generator, corruption: str) -> None:
    raw = raw_folder(tmp_path, "mnist")
    write_idx(raw, rng, gz=False)
    filename, corrupt = IDX_CORRUPTIONS[corruption]
    (raw / filename).write_bytes(corrupt((raw / filename).read_bytes()))
    with pytest.raises(DatasetError, match="corrupt IDX") as info:
        datasets._load_mnist("mnist", tmp_path, download=False)
    message = str(info.value)
    assert str(raw) in message
    if corruption not in ("fewer labels", "label out of range"):
        assert str(raw / filename) in message and "magic 0x0803" in message


GZ_CORRUPTIONS: dict[str, Callable[[bytes], bytes]] = {
    "not gzip": lambda gz: b"garbage!" * 100,
    "truncated": lambda gz: gz[: len(gz) // 2],
    "damaged stream": lambda gz: gz[:20] + b"\xff" * 20 + gz[40:],
}


@pytest.mark.parametrize("corruption", list(GZ_CORRUPTIONS))
def test_corrupt_gz_names_the_file(tmp_path: Path, corruption: str) -> None:
    raw = raw_folder(tmp_path, "fashion_mnist")
    # Compressible images, so that the deflate stream has structure to damage.
    write_idx(raw, np.random.default_rng(0), gz=True, n_train=50)
    packed = raw / "train-images-idx3-ubyte.gz"
    packed.write_bytes(GZ_CORRUPTIONS[corruption](gzip.compress(idx(np.zeros((50, 28, 28), np.uint8)))))
    with pytest.raises(DatasetError, match="corrupt gzip file") as info:
        datasets._load_mnist("fashion_mnist", tmp_path, download=False)
    assert str(packed) in str(info.value)
    assert not (raw / "train-images-idx3-ubyte").exists()
    assert not list(raw.glob("*.partial"))


# --- data root ------------------------------------------------------------------------------


def test_data_root_argument_beats_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LRGYM_DATA", str(tmp_path / "env"))
    assert resolve_data_root(tmp_path / "arg") == tmp_path / "arg"
    assert resolve_data_root(str(tmp_path / "arg")) == tmp_path / "arg"


def test_lrgym_data_beats_xdg_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LRGYM_DATA", str(tmp_path / "env"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resolve_data_root(None) == tmp_path / "env"
    monkeypatch.setenv("LRGYM_DATA", "")  # empty counts as unset
    assert resolve_data_root(None) == tmp_path / "xdg" / "lrgym"


def test_user_cache_is_the_fallback(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert resolve_data_root(None) == tmp_path / "xdg" / "lrgym"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert resolve_data_root(None) == tmp_path / "home" / ".cache" / "lrgym"
    assert resolve_data_root("~/data") == tmp_path / "home" / "data"


def _snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path under `folder` with its bytes (None for directories)."""
    return {str(p): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}


@pytest.fixture
def bounded_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    """File locks that give up after 5 s: a lock that could never be taken fails the test, not hangs it."""
    monkeypatch.setattr(datasets, "FileLock", functools.partial(filelock.FileLock, timeout=5))


@pytest.mark.parametrize("name", ["cifar10", "fashion_mnist"])
@pytest.mark.parametrize("download", [False, True])
@pytest.mark.parametrize("below", [False, True])
def test_a_file_as_data_root_is_a_dataset_error_and_nothing_changes(
    tmp_path: Path, name: str, download: bool, below: bool, bounded_lock: None
) -> None:
    file = tmp_path / "notes.txt"
    file.write_text("keep me")
    root = file / "data" if below else file
    before = _snapshot(tmp_path)
    with pytest.raises(DatasetError) as info:
        load_dataset(LRTuningConfig(dataset=name, data_root=str(root), download=download))
    message = str(info.value)
    assert f"data root {root} is not a directory" in message and str(file) in message
    assert "data_root (or $LRGYM_DATA)" in message and "download=True" in message
    assert _snapshot(tmp_path) == before


PROC = Path("/proc")
needs_proc = pytest.mark.skipif(not (PROC / "self").is_dir(), reason="needs Linux's /proc")


@needs_proc
@pytest.mark.parametrize("name", ["cifar10", "mnist"])
@pytest.mark.parametrize("root", [PROC, PROC / "lrgym-test-data", PROC / "lrgym-test-data" / "sub"])
def test_an_unwritable_data_root_is_a_dataset_error_when_a_download_must_write(
    name: str, root: Path, bounded_lock: None
) -> None:
    """Nothing can be created under /proc, not even by root (which ignores permission bits)."""
    with pytest.raises(DatasetError, match="cannot write into the data root") as info:
        load_dataset(LRTuningConfig(dataset=name, data_root=str(root), download=True))
    assert str(root) in str(info.value) and "$LRGYM_DATA" in str(info.value)
    assert not (PROC / "lrgym-test-data").exists()


@needs_proc
def test_unpacking_into_an_unwritable_data_root_is_a_dataset_error(
    tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch, bounded_lock: None
) -> None:
    debian = tmp_path / "debian"
    monkeypatch.setattr(datasets, "DEBIAN_FASHION_MNIST", debian)
    write_idx(debian, rng, gz=True)
    before = _snapshot(tmp_path)
    with pytest.raises(DatasetError, match=f"cannot write into the data root {PROC}"):
        load_dataset(LRTuningConfig(dataset="fashion_mnist", data_root=str(PROC)))
    assert _snapshot(tmp_path) == before


def test_a_file_where_the_raw_folder_must_be_is_a_dataset_error(
    tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch, bounded_lock: None
) -> None:
    debian = tmp_path / "debian"
    monkeypatch.setattr(datasets, "DEBIAN_FASHION_MNIST", debian)
    write_idx(debian, rng, gz=True)
    raw = raw_folder(tmp_path / "root", "fashion_mnist")
    raw.parent.mkdir(parents=True)
    raw.write_text("not a folder")
    with pytest.raises(DatasetError, match="cannot write into the data root") as info:
        datasets._load_mnist("fashion_mnist", tmp_path / "root", download=False)
    assert str(raw) in str(info.value)
    assert raw.read_text() == "not a folder"


def test_a_failing_disk_while_unpacking_is_not_blamed_on_the_archive(
    tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    raw = raw_folder(tmp_path, "fashion_mnist")
    write_idx(raw, rng, gz=True)

    def disk_full(src, dst, *args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(datasets.shutil, "copyfileobj", disk_full)
    with pytest.raises(DatasetError, match="cannot unpack .*train-images-idx3-ubyte.gz into .*No space"):
        datasets._load_mnist("fashion_mnist", tmp_path, download=False)
    assert not list(raw.glob("*.partial")) and not (raw / "train-images-idx3-ubyte").exists()


# --- load_dataset ---------------------------------------------------------------------------


def test_load_dataset_rejects_incomplete_files(tmp_path: Path, rng: np.random.Generator) -> None:
    write_cifar(tmp_path, "cifar10", rng)
    with pytest.raises(DatasetError, match="incomplete") as info:
        load_dataset(LRTuningConfig(dataset="cifar10", data_root=str(tmp_path)))
    message = str(info.value)
    assert f"found {sum(TRAIN_SIZES)} training and {TEST_SIZE} test" in message
    assert "expected 50000 and 10000" in message and str(tmp_path) in message


def test_load_dataset_reads_lrgym_data(
    tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_idx(raw_folder(tmp_path, "mnist"), rng, gz=True)
    monkeypatch.setenv("LRGYM_DATA", str(tmp_path))
    with pytest.raises(DatasetError, match="incomplete") as info:
        load_dataset(LRTuningConfig(dataset="mnist"))
    assert f"under {tmp_path}: found 5 training" in str(info.value)
    assert "expected 60000 and 10000" in str(info.value)


def test_load_dataset_reads_complete_files_once(
    tmp_path: Path, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the expected counts equal to the files', they load, and only once per process."""
    monkeypatch.setitem(lrconfig.FILE_DATASETS, "fashion_mnist", DatasetInfo(1, 28, 10, 5, TEST_SIZE))
    expected = write_idx(raw_folder(tmp_path, "fashion_mnist"), rng, gz=False)
    cfg = LRTuningConfig(
        dataset="fashion_mnist", data_root=str(tmp_path), val_size=2, val_subset_size=1, batch_size=1
    )
    data = load_dataset(cfg)
    _assert_same(data, expected)
    assert dataset_key(cfg) == ("fashion_mnist", str(tmp_path))
    assert load_dataset(cfg.replace(batch_size=2, download=True)) is data


SYNTHETIC = LRTuningConfig(
    dataset="synthetic",
    synthetic_train_size=200,
    synthetic_test_size=50,
    val_size=50,
    val_subset_size=20,
    batch_size=32,
)


def test_synthetic_dataset_has_the_configured_shapes_and_is_cached() -> None:
    data = load_dataset(SYNTHETIC)
    assert data.train_images.shape == (200, 3, 16, 16) and data.train_images.dtype == torch.uint8
    assert data.test_images.shape == (50, 3, 16, 16) and data.test_images.dtype == torch.uint8
    assert data.train_labels.shape == (200,) and data.train_labels.dtype == torch.int64
    assert data.test_labels.shape == (50,) and data.test_labels.dtype == torch.int64
    assert 0 <= int(data.train_labels.min()) and int(data.train_labels.max()) < 10
    assert load_dataset(SYNTHETIC) is data
    assert load_dataset(SYNTHETIC.replace(batch_size=16)) is data  # not a data option
    other = load_dataset(SYNTHETIC.replace(synthetic_seed=1))
    assert other is not data and not torch.equal(other.train_images, data.train_images)


def test_synthetic_dataset_follows_its_options() -> None:
    cfg = SYNTHETIC.replace(synthetic_image_size=8, synthetic_channels=1, synthetic_classes=3)
    data = load_dataset(cfg)
    assert data.train_images.shape == (200, 1, 8, 8)
    assert set(data.train_labels.tolist()) <= {0, 1, 2}


# --- download -------------------------------------------------------------------------------


@pytest.fixture
def cifar10_online(served: Served, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch) -> RawDataset:
    """CIFAR-10's archive on the local server, with lrgym's CIFAR-10 class pointed at it."""
    md5, expected = cifar10_archive(served.folder, rng)
    monkeypatch.setattr(datasets._CIFAR10Files, "url", f"{served.url}/cifar-10-python.tar.gz")
    monkeypatch.setattr(datasets._CIFAR10Files, "tgz_md5", md5)
    return expected


def test_download_fetches_and_extracts_cifar10(
    tmp_path: Path, served: Served, cifar10_online: RawDataset
) -> None:
    root = tmp_path / "root"
    _assert_same(datasets._load_cifar("cifar10", root, download=True, num_classes=10), cifar10_online)
    assert "/cifar-10-python.tar.gz" in served.requests
    assert (root / "cifar-10-python.tar.gz").is_file() and (root / ".cifar10.lock").exists()
    # Once the files are there, download=True fetches nothing.
    served.requests.clear()
    _assert_same(datasets._load_cifar("cifar10", root, download=True, num_classes=10), cifar10_online)
    assert served.requests == []


def test_no_download_unless_asked(tmp_path: Path, served: Served, cifar10_online: RawDataset) -> None:
    root = tmp_path / "root"
    with pytest.raises(DatasetError, match="not found"):
        datasets._load_cifar("cifar10", root, download=False, num_classes=10)
    assert served.requests == []
    assert not root.exists()


def test_parallel_downloads_are_serialised(
    tmp_path: Path, served: Served, cifar10_online: RawDataset, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers loading into one empty root at once: one downloads, the other waits and reads."""
    real_download = tv_cifar.download_and_extract_archive
    guard = threading.Lock()
    counts = {"active": 0, "peak": 0, "calls": 0}

    def slow_download(*args: Any, **kwargs: Any) -> None:
        with guard:
            counts["active"] += 1
            counts["calls"] += 1
            counts["peak"] = max(counts["peak"], counts["active"])
        try:
            time.sleep(0.2)  # a window in which an unserialised second download would start
            real_download(*args, **kwargs)
        finally:
            with guard:
                counts["active"] -= 1

    monkeypatch.setattr(tv_cifar, "download_and_extract_archive", slow_download)
    root = tmp_path / "root"
    start = threading.Barrier(2)
    results: list[RawDataset | BaseException | None] = [None, None]

    def worker(i: int) -> None:
        start.wait()
        try:
            results[i] = datasets._load_cifar("cifar10", root, download=True, num_classes=10)
        except BaseException as exc:  # reported by the main thread
            results[i] = exc

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for result in results:
        assert isinstance(result, RawDataset), result
        _assert_same(result, cifar10_online)
    assert counts == {"active": 0, "peak": 1, "calls": 1}


@pytest.mark.parametrize("problem", ["wrong checksum", "not on the server"])
def test_failed_download_says_how_to_get_the_data(
    tmp_path: Path,
    served: Served,
    cifar10_online: RawDataset,
    monkeypatch: pytest.MonkeyPatch,
    problem: str,
) -> None:
    if problem == "wrong checksum":
        monkeypatch.setattr(datasets._CIFAR10Files, "tgz_md5", "0" * 32)
    else:
        monkeypatch.setattr(datasets._CIFAR10Files, "url", f"{served.url}/missing.tar.gz")
    root = tmp_path / "root"
    with pytest.raises(DatasetError, match="downloading CIFAR-10") as info:
        datasets._load_cifar("cifar10", root, download=True, num_classes=10)
    message = str(info.value)
    assert datasets._CIFAR10Files.url in message and str(root) in message
    assert "Offline" in message and "cifar-10-python.tar.gz" in message


def test_download_fetches_mnist(
    tmp_path: Path, served: Served, rng: np.random.Generator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """MNIST's download (torchvision's, with mirrors and MD5s) also runs where asked."""
    expected = write_idx(served.folder, rng, gz=True)
    resources = [
        (f + ".gz", hashlib.md5((served.folder / (f + ".gz")).read_bytes()).hexdigest())
        for f in datasets.IDX_FILES
    ]
    monkeypatch.setattr(tvd.MNIST, "mirrors", [served.url + "/"])
    monkeypatch.setattr(tvd.MNIST, "resources", resources)
    root = tmp_path / "root"
    _assert_same(datasets._load_mnist("mnist", root, download=True), expected)
    assert set(served.requests) == {f"/{f}.gz" for f in datasets.IDX_FILES}
