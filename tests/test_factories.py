"""Your own model and data: model and dataset factories through `gym.make`, the env checkers,
the observation's invariance, seeding, and the errors a broken factory gets."""

from __future__ import annotations

import copy
import json
import warnings

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium.utils.env_checker import check_env
from PIL import Image
from stable_baselines3.common.env_checker import check_env as sb3_check_env
from torch import nn
from torchvision import datasets as tvd

import lrgym  # noqa: F401
from lrgym import features
from lrgym.config import DatasetInfo, LRTuningConfig
from lrgym.datasets import DatasetError, load_dataset
from lrgym.env import LRTuningEnv
from lrgym.factories import FactoryError, ImageData
from lrgym.models import weight_layers
from lrgym.training import Trainer

MODEL = f"{__name__}:two_layer_cnn"
DATA = f"{__name__}:random_data"
CLASSES, CHANNELS, SIZE = 3, 1, 12
# 200 training images after the split: 10 mini-batches, 5 decisions of 2.
KWARGS = {
    "model": MODEL,
    "dataset": DATA,
    "device": "cpu",
    "val_size": 60,
    "val_subset_size": 40,
    "batch_size": 20,
    "eval_batch_size": 60,
    "epochs": 1.0,
    "steps_per_epoch": 5,
}


# --- the factories (what a user writes) ----------------------------------------------------------


class TwoLayerCNN(nn.Module):
    """A convolution (8 hidden channels) with batch norm, global pooling and a linear head."""

    def __init__(self, num_classes: int, in_channels: int, image_size: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, 8, 3, padding=1)
        self.bn = nn.BatchNorm2d(8)
        self.fc = nn.Linear(8, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = torch.relu(self.bn(self.conv(x)))
        return self.fc(hidden.mean(dim=(2, 3)))


def two_layer_cnn(num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    return TwoLayerCNN(num_classes, in_channels, image_size)


def mlp(num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    return nn.Sequential(
        nn.Flatten(), nn.Linear(in_channels * image_size**2, 16), nn.ReLU(), nn.Linear(16, num_classes)
    )


def constant_conv_cnn(num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    model = TwoLayerCNN(num_classes, in_channels, image_size)
    nn.init.constant_(model.conv.weight, 0.01)  # the factory's own initialisation
    return model


def _arrays(train: int = 260, test: int = 60, seed: int = 0) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randint(0, 256, (train, CHANNELS, SIZE, SIZE), dtype=torch.uint8, generator=g),
        torch.randint(0, CLASSES, (train,), generator=g),
        torch.randint(0, 256, (test, CHANNELS, SIZE, SIZE), dtype=torch.uint8, generator=g),
        torch.randint(0, CLASSES, (test,), generator=g),
    )


def random_data() -> ImageData:
    return ImageData(*_arrays(), num_classes=CLASSES)


def numpy_tuple_data() -> tuple[np.ndarray, ...]:
    return tuple(a.numpy() for a in _arrays(seed=1))


class PILDataset:
    """A map-style dataset of (PIL image, label) items, as torchvision's are without transforms."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[Image.Image, int]:
        return Image.fromarray(self.images[i, 0].numpy()), int(self.labels[i])


def pil_pair_data() -> tuple[PILDataset, PILDataset]:
    a = _arrays(seed=2)
    return PILDataset(a[0], a[1]), PILDataset(a[2], a[3])


def fashion_mnist_like_data() -> tuple[tvd.FashionMNIST, tvd.FashionMNIST]:
    """torchvision's FashionMNIST objects holding the arrays of `pil_pair_data` (no files)."""
    a = _arrays(seed=2)
    out = []
    for images, labels in ((a[0], a[1]), (a[2], a[3])):
        ds = tvd.FashionMNIST.__new__(tvd.FashionMNIST)
        ds.data, ds.targets, ds.transform, ds.target_transform = images[:, 0], labels, None, None
        out.append(ds)
    return out[0], out[1]


CALLS = {"counting_data": 0}


def counting_data() -> ImageData:
    CALLS["counting_data"] += 1
    return random_data()


# Broken factories.
def returns_int(**kwargs) -> int:
    return 3


def raising_model(**kwargs) -> nn.Module:
    raise RuntimeError("no GPU here")


def moves_to_cpu(num_classes: int, in_channels: int, image_size: int) -> nn.Module:
    return TwoLayerCNN(num_classes, in_channels, image_size).to("cpu")  # cannot build on meta


def no_weight_layers(**kwargs) -> nn.Module:
    return nn.Identity()


def lazy_model(num_classes: int, **kwargs) -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.LazyLinear(num_classes))


def float_images() -> ImageData:
    a = _arrays()
    return ImageData(a[0].float() / 255, a[1], a[2].float() / 255, a[3])


def three_dim_images() -> tuple:
    a = _arrays()
    return a[0][:, 0], a[1], a[2][:, 0], a[3]


def non_square_images() -> tuple:
    a = _arrays()
    return a[0][:, :, :, :10], a[1], a[2][:, :, :, :10], a[3]


def labels_out_of_range() -> ImageData:
    a = _arrays()
    return ImageData(a[0], a[1] + 5, a[2], a[3], num_classes=CLASSES)


def too_few_labels() -> tuple:
    a = _arrays()
    return a[0], a[1][:-1], a[2], a[3]


def float_labels() -> tuple:
    a = _arrays()
    return a[0], a[1].float(), a[2], a[3]


def other_size_test_images() -> tuple:
    a = _arrays()
    return a[0], a[1], a[2][:, :, :8, :8], a[3]


def pair_of_arrays() -> tuple:
    return _arrays()[:2]


def raising_data() -> ImageData:
    raise OSError("no such file: my_data.npz")


def returns_dict() -> dict:
    return {"train": 1}


# --- the happy path --------------------------------------------------------------------------------


def test_factories_pass_both_env_checkers_with_warnings_as_errors() -> None:
    env = gym.make("LRTuning-Tiny-v0", **KWARGS)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env.unwrapped, skip_render_check=True)
        sb3_check_env(env.unwrapped)
    info = env.unwrapped.config.dataset_info
    assert info == DatasetInfo(channels=1, image_size=12, num_classes=3, train_count=260, test_count=60)
    # Two weight layers (conv, linear) of 13 quantile features, then the 7 training signals.
    assert env.observation_space.shape == (2 * 13 + 7,)


def test_a_callable_factory_is_recorded_by_name_and_its_checkpoints_load() -> None:
    env = gym.make("LRTuning-Tiny-v0", **{**KWARGS, "model": two_layer_cnn, "dataset": random_data})
    cfg = env.unwrapped.config
    assert (cfg.model, cfg.dataset) == (two_layer_cnn, random_data)
    record = cfg.to_dict()
    assert (record["model"], record["dataset"]) == (MODEL, DATA)
    json.dumps(record)  # JSON records hold names, not objects
    env.reset(seed=0)
    env.step(2)
    other = Trainer(cfg, seed=5)
    other.load_state_dict(env.unwrapped.trainer.state_dict())
    assert torch.equal(other.model.conv.weight, env.unwrapped.trainer.model.conv.weight)
    state = env.unwrapped.trainer.state_dict()
    with pytest.raises(
        ValueError, match="model='test_factories:two_layer_cnn' .this trainer: 'test_factories:mlp'"
    ):
        Trainer(cfg.replace(model=mlp), seed=5).load_state_dict(state)


def _episode(seed: int, **kwargs) -> list:
    env = gym.make("LRTuning-Tiny-v0", **{**KWARGS, **kwargs})
    obs, info = env.reset(seed=seed)
    out = [obs, info["val_loss"]]
    for action in (3, 1, 2, 4, 0):
        obs, reward, terminated, _, info = env.step(action)
        out += [obs, reward, info["train_loss"]]
    assert terminated
    return out


@pytest.mark.parametrize("model_init", ["lrgym", "factory"])
def test_same_seed_gives_an_identical_episode_and_leaves_the_global_rng_alone(model_init: str) -> None:
    before = torch.random.get_rng_state()
    first, second = _episode(3, model_init=model_init), _episode(3, model_init=model_init)
    assert torch.equal(torch.random.get_rng_state(), before)
    for a, b in zip(first, second, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(_episode(4, model_init=model_init)[0], first[0])  # the seed decides


def test_lrgym_reinitialises_a_factory_model_unless_asked_not_to() -> None:
    cfg = LRTuningConfig(**{**KWARGS, "model": f"{__name__}:constant_conv_cnn"})
    assert not torch.all(Trainer(cfg, seed=0).model.conv.weight == 0.01)
    kept = Trainer(cfg.replace(model_init="factory"), seed=0).model
    assert torch.all(kept.conv.weight == 0.01)
    with pytest.raises(
        ValueError, match="model_init='factory' is invalid: 'factory' applies to model factories only"
    ):
        LRTuningConfig(model_init="factory")


def _permute_hidden_units(model: TwoLayerCNN, generator: torch.Generator) -> None:
    """The conv's output channels, the batch norm's parameters and statistics, and the linear
    layer's input columns, all by one permutation: the same function."""
    perm = torch.randperm(model.conv.out_channels, generator=generator)
    with torch.no_grad():
        for tensor in (
            model.conv.weight,
            model.conv.bias,
            model.bn.weight,
            model.bn.bias,
            model.bn.running_mean,
            model.bn.running_var,
        ):
            tensor.copy_(tensor[perm])
        model.fc.weight.copy_(model.fc.weight[:, perm])


@pytest.mark.parametrize("feature_set", ["paper", "quantiles", "histogram"])
def test_the_observation_is_invariant_to_a_permutation_of_the_models_hidden_units(feature_set: str) -> None:
    env = gym.make("LRTuning-Tiny-v0", **KWARGS, features=feature_set)
    env.reset(seed=0)
    env.step(2)
    env.step(3)  # trained weights and batch-norm statistics
    model = env.unwrapped.trainer.model.eval()
    permuted = copy.deepcopy(model)
    _permute_hidden_units(permuted, torch.Generator().manual_seed(1))
    assert not torch.equal(permuted.conv.weight, model.conv.weight)
    x = torch.randn(4, CHANNELS, SIZE, SIZE, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        torch.testing.assert_close(permuted(x), model(x), rtol=1e-4, atol=1e-5)

    cfg = env.unwrapped.config
    signals = np.zeros(len(features.TRAINING_SIGNALS))
    layers = [[p for _, p in weight_layers(m)] for m in (model, permuted)]
    observe = [features.observation(weights, cfg, signals) for weights in layers]
    assert observe[0].shape == env.observation_space.shape
    np.testing.assert_allclose(observe[1], observe[0], rtol=1e-4, atol=1e-5)


def test_any_conv_or_linear_layers_feed_the_observation() -> None:
    env = gym.make("LRTuning-Tiny-v0", **{**KWARGS, "model": f"{__name__}:mlp"})
    assert env.observation_space.shape == (2 * 13 + 7,)
    obs, _ = env.reset(seed=0)
    obs, *_ = env.step(2)
    assert env.observation_space.contains(obs)


@pytest.mark.parametrize("factory", ["numpy_tuple_data", "pil_pair_data", "fashion_mnist_like_data"])
def test_every_documented_return_form_of_a_dataset_factory_is_read(factory: str) -> None:
    cfg = LRTuningConfig(**{**KWARGS, "dataset": f"{__name__}:{factory}"})
    data = load_dataset(cfg)
    seed = 1 if factory == "numpy_tuple_data" else 2
    got = (data.train_images, data.train_labels, data.test_images, data.test_labels)
    for read, made in zip(got, _arrays(seed=seed), strict=True):
        assert torch.equal(read, made)
    # The largest label + 1, or what a torchvision dataset declares (FashionMNIST's ten `classes`).
    assert cfg.dataset_info.num_classes == (10 if factory == "fashion_mnist_like_data" else CLASSES)
    env = LRTuningEnv(config=cfg)
    env.reset(seed=0)
    env.step(2)


def test_a_dataset_factory_is_called_once_per_process() -> None:
    spec = f"{__name__}:counting_data"
    for seed in (0, 1):
        gym.make("LRTuning-Tiny-v0", **{**KWARGS, "dataset": spec}).reset(seed=seed)
    LRTuningConfig(**{**KWARGS, "dataset": spec, "val_size": 50})
    assert CALLS["counting_data"] == 1


# --- broken factories get errors that name them ---------------------------------------------------


@pytest.mark.parametrize(
    ("model", "error", "pattern"),
    [
        (
            "returns_int",
            FactoryError,
            r"model factory 'test_factories:returns_int' returned a int \(called as factory\(num_classes=3, in_channels=1, image_size=12\)\); expected a torch.nn.Module",
        ),
        (
            "raising_model",
            FactoryError,
            "model factory 'test_factories:raising_model' raised RuntimeError: no GPU here",
        ),
        (
            "moves_to_cpu",
            FactoryError,
            "'test_factories:moves_to_cpu' raised NotImplementedError.*must build on the meta device",
        ),
        (
            "no_weight_layers",
            FactoryError,
            "'test_factories:no_weight_layers' returned a Identity without a convolution or linear layer",
        ),
        ("lazy_model", FactoryError, r"'test_factories:lazy_model': lazy modules \['1'\]"),
        (
            "missing",
            ValueError,
            "LRTuningConfig.model='test_factories:missing' is invalid: .*has no attribute 'missing'",
        ),
        ("CLASSES", ValueError, "'test_factories:CLASSES' is a int, not a callable"),
    ],
)
def test_a_broken_model_factory_is_refused_at_construction(model: str, error: type, pattern: str) -> None:
    with pytest.raises(error, match=pattern):
        gym.make("LRTuning-Tiny-v0", **{**KWARGS, "model": f"{__name__}:{model}"})


@pytest.mark.parametrize(
    ("field", "value", "pattern"),
    [
        (
            "model",
            "no_such_package_xyz.models:net",
            "model='no_such_package_xyz.models:net' is invalid: cannot import module 'no_such_package_xyz.models'",
        ),
        (
            "dataset",
            "no_such_package_xyz:data",
            "dataset='no_such_package_xyz:data' is invalid: cannot import module",
        ),
        ("model", "resnet", "model='resnet' is invalid: allowed values are 'wrn', 'cnn', or a factory"),
        ("dataset", "imagenet", "dataset='imagenet' is invalid: allowed values are 'cifar10'.* or a factory"),
        ("model", 3, "model=3 is invalid"),
    ],
)
def test_an_unimportable_factory_is_refused_naming_the_field(field: str, value, pattern: str) -> None:
    with pytest.raises(ValueError, match=pattern):
        LRTuningConfig(**{**KWARGS, field: value})


@pytest.mark.parametrize(
    ("factory", "pattern"),
    [
        ("float_images", r"train_images has dtype torch.float32 .* expected uint8 images N x C x H x W"),
        (
            "three_dim_images",
            r"train_images has dtype torch.uint8 and shape \(260, 12, 12\); expected uint8 images N x C x H x W",
        ),
        (
            "non_square_images",
            r"train_images has shape \(260, 1, 12, 10\); expected at least one square image",
        ),
        ("labels_out_of_range", r"labels range over 0..7, outside 0..2 \(3 classes\)"),
        ("too_few_labels", r"train_labels has shape \(259,\); expected \(260,\)"),
        ("float_labels", "train_labels has dtype torch.float32; expected integers"),
        ("other_size_test_images", r"train_images are C x H x W = \(1, 12, 12\) but test_images \(1, 8, 8\)"),
        ("pair_of_arrays", "returned a pair of arrays; a pair must be .train_dataset, test_dataset."),
        (
            "raising_data",
            "dataset factory 'test_factories:raising_data' raised OSError: no such file: my_data.npz",
        ),
        (
            "returns_dict",
            "dataset factory 'test_factories:returns_dict' returned a dict; expected an lrgym.factories.ImageData",
        ),
    ],
)
def test_a_dataset_factory_with_bad_data_gets_a_dataset_error_naming_it(factory: str, pattern: str) -> None:
    with pytest.raises(DatasetError, match=f"dataset factory 'test_factories:{factory}'"):
        gym.make("LRTuning-Tiny-v0", **{**KWARGS, "dataset": f"{__name__}:{factory}"})
    with pytest.raises(DatasetError, match=pattern):
        LRTuningConfig(**{**KWARGS, "dataset": f"{__name__}:{factory}"})


def test_a_dataset_too_small_for_the_config_is_refused_with_its_size() -> None:
    with pytest.raises(
        ValueError, match="val_size=5000 is invalid: must be smaller than the 260 training images"
    ):
        LRTuningConfig(dataset=DATA)
