"""Weight files: the napari-gan format, published RRDBNet and SRVGGNetCompact layouts, and rejected files."""

from __future__ import annotations

import os
import re
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from skimage import data

import napari_gan
from napari_gan import NapariGanError, load_generator
from napari_gan.archs import build_arch

ESRGAN_MODULE_NAMES = {"conv_body": "trunk_conv", "conv_up1": "upconv1", "conv_up2": "upconv2", "conv_hr": "HRconv"}
ESRGAN_SEQUENTIAL_INDICES = {"conv_first": 0, "conv_up1": 3, "conv_up2": 6, "conv_hr": 8, "conv_last": 10}


def _rrdbnet(scale: int = 4, num_block: int = 2, seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    return build_arch("rrdbnet", num_in_ch=3, num_out_ch=3, scale=scale, num_feat=4, num_block=num_block, num_grow_ch=4).eval()


def _outputs_equal(first: torch.nn.Module, second: torch.nn.Module, channels: int = 3) -> bool:
    torch.manual_seed(1)
    batch = torch.rand(1, channels, 12, 16)
    with torch.no_grad():
        return torch.equal(first(batch), second(batch))


def _to_esrgan_named(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Rename a BasicSR RRDBNet state dict to the ESRGAN layout with RRDB_trunk and trunk_conv."""
    renamed = {}
    for key, tensor in state.items():
        key = re.sub(r"^body\.(\d+)\.rdb(\d)\.", r"RRDB_trunk.\1.RDB\2.", key)
        module, _, rest = key.partition(".")
        renamed[f"{ESRGAN_MODULE_NAMES.get(module, module)}.{rest}"] = tensor
    return renamed


def _to_esrgan_sequential(state: dict[str, torch.Tensor], num_block: int) -> dict[str, torch.Tensor]:
    """Rename a BasicSR RRDBNet x4 state dict to the original ESRGAN nn.Sequential layout."""
    renamed = {}
    for key, tensor in state.items():
        if match := re.fullmatch(r"body\.(\d+)\.rdb(\d)\.conv(\d)\.(weight|bias)", key):
            block, rdb, conv, kind = match.groups()
            renamed[f"model.1.sub.{block}.RDB{rdb}.conv{conv}.0.{kind}"] = tensor
            continue
        module, _, kind = key.partition(".")
        if module == "conv_body":
            renamed[f"model.1.sub.{num_block}.{kind}"] = tensor
        else:
            renamed[f"model.{ESRGAN_SEQUENTIAL_INDICES[module]}.{kind}"] = tensor
    return renamed


def test_save_load_round_trip(tmp_path, rgb_generator):
    path = rgb_generator.save(tmp_path / "tiny.safetensors")
    loaded = load_generator(path)
    image = data.astronaut()[:24, :32]

    assert loaded.info.arch_kwargs == rgb_generator.info.arch_kwargs
    assert loaded.name == rgb_generator.name
    assert loaded.scale == 2
    assert loaded.info.source_format == "napari-gan"
    np.testing.assert_array_equal(loaded.apply(image, tile=None), rgb_generator.apply(image, tile=None))


def test_save_wrong_extension_raises(tmp_path, rgb_generator):
    with pytest.raises(NapariGanError, match=r"\.safetensors"):
        rgb_generator.save(tmp_path / "tiny.pth")


def test_save_missing_folder_raises(tmp_path, rgb_generator):
    with pytest.raises(NapariGanError, match="does not exist"):
        rgb_generator.save(tmp_path / "missing" / "tiny.safetensors")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX file modes")
def test_save_file_mode_follows_umask(tmp_path, rgb_generator):
    umask = os.umask(0)
    os.umask(umask)
    path = rgb_generator.save(tmp_path / "tiny.safetensors")

    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_truncated_safetensors_raises(tmp_path, saved_generator):
    content = saved_generator.read_bytes()
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(content[: len(content) // 2])

    with pytest.raises(NapariGanError, match="truncated"):
        load_generator(truncated)


def test_truncated_pth_raises(tmp_path):
    path = tmp_path / "whole.pth"
    torch.save(_rrdbnet().state_dict(), path)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(path.read_bytes()[:500])

    with pytest.raises(NapariGanError, match="truncated"):
        load_generator(truncated)


def test_plain_safetensors_imports_layout(tmp_path):
    net = _rrdbnet()
    path = tmp_path / "plain.safetensors"
    save_file({key: tensor.contiguous() for key, tensor in net.state_dict().items()}, str(path))
    loaded = load_generator(path)

    assert loaded.info.source_format == "Real-ESRGAN/BasicSR"
    assert _outputs_equal(loaded.net, net)


def test_pth_prefers_params_ema(tmp_path):
    ema, params = _rrdbnet(seed=0), _rrdbnet(seed=1)
    path = tmp_path / "RealESRGAN_tiny.pth"
    torch.save({"params_ema": ema.state_dict(), "params": params.state_dict()}, path)
    loaded = load_generator(path).net.state_dict()

    for key, tensor in ema.state_dict().items():
        assert torch.equal(loaded[key], tensor), key
    assert not torch.equal(loaded["conv_first.weight"], params.state_dict()["conv_first.weight"])


def test_pth_state_dict_with_module_prefix(tmp_path):
    net = _rrdbnet()
    path = tmp_path / "checkpoint.pth"
    torch.save({"state_dict": {f"module.{key}": tensor for key, tensor in net.state_dict().items()}, "epoch": 3}, path)

    assert _outputs_equal(load_generator(path).net, net)


@pytest.mark.parametrize("scale", [1, 2, 4])
def test_realesrgan_rrdbnet_detects_sizes(tmp_path, scale):
    net = _rrdbnet(scale=scale, num_block=3)
    path = tmp_path / f"RealESRGAN_x{scale}.pth"
    torch.save({"params_ema": net.state_dict()}, path)
    loaded = load_generator(path)

    assert loaded.info.arch == "rrdbnet"
    assert loaded.info.arch_kwargs == dict(num_in_ch=3, num_out_ch=3, scale=scale, num_feat=4, num_block=3, num_grow_ch=4)
    assert loaded.scale == scale
    assert loaded.size_multiple == 4 // scale
    assert _outputs_equal(loaded.net, net)


def test_realesrgan_x2_applies_to_odd_image(tmp_path):
    path = tmp_path / "RealESRGAN_x2.pth"
    torch.save({"params_ema": _rrdbnet(scale=2, num_block=1).state_dict()}, path)
    loaded = load_generator(path)

    assert loaded.apply(data.astronaut()[:37, :29], tile=None).shape == (74, 58, 3)


def test_esrgan_named_layout_loads(tmp_path):
    net = _rrdbnet(scale=4, num_block=2)
    path = tmp_path / "RRDB_ESRGAN_x4_named.pth"
    torch.save(_to_esrgan_named(net.state_dict()), path)
    loaded = load_generator(path)

    assert loaded.info.source_format == "ESRGAN (RRDB_trunk layout)"
    assert loaded.info.arch_kwargs["num_block"] == 2
    assert _outputs_equal(loaded.net, net)


def test_esrgan_sequential_layout_loads(tmp_path):
    net = _rrdbnet(scale=4, num_block=2)
    path = tmp_path / "RRDB_ESRGAN_x4.pth"
    torch.save(_to_esrgan_sequential(net.state_dict(), num_block=2), path)
    loaded = load_generator(path)

    assert loaded.info.source_format == "ESRGAN (sequential layout)"
    assert loaded.info.arch_kwargs["num_block"] == 2
    assert _outputs_equal(loaded.net, net)


@pytest.mark.parametrize(
    ("act_type", "num_conv", "upscale"),
    [("prelu", 2, 4), ("prelu", 3, 2), ("leakyrelu", 1, 2), ("leakyrelu", 2, 3)],
)
def test_srvgg_layout_detection(tmp_path, act_type, num_conv, upscale):
    torch.manual_seed(0)
    net = build_arch("srvgg", num_in_ch=3, num_out_ch=3, num_feat=4, num_conv=num_conv, upscale=upscale, act_type=act_type)
    path = tmp_path / "realesr-tiny.pth"
    torch.save({"params": net.state_dict()}, path)
    loaded = load_generator(path)

    assert loaded.info.arch == "srvgg"
    assert loaded.info.arch_kwargs["act_type"] == act_type
    assert loaded.info.arch_kwargs["num_conv"] == num_conv
    assert loaded.info.arch_kwargs["upscale"] == upscale
    assert loaded.scale == upscale
    assert _outputs_equal(loaded.net, net.eval())


class RecordingModule(torch.nn.Module):
    """A module that records every unpickling of itself in ``unpickled``."""

    unpickled: list[str] = []

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 3, 3)

    def __setstate__(self, state: dict) -> None:
        RecordingModule.unpickled.append("unpickled")
        super().__setstate__(state)


def test_pickled_module_raises_unloaded(tmp_path):
    RecordingModule.unpickled.clear()
    path = tmp_path / "full_model.pth"
    torch.save(RecordingModule(), path)

    with pytest.raises(NapariGanError, match="needs code execution"):
        load_generator(path)
    assert RecordingModule.unpickled == []


def test_pkl_file_raises(tmp_path):
    path = tmp_path / "stylegan2.pkl"
    path.write_bytes(b"not read")

    with pytest.raises(NapariGanError, match="needs code execution"):
        load_generator(path)


def test_other_architecture_lists_expected_keys(tmp_path):
    path = tmp_path / "pix2pix.pth"
    torch.save({"model.model.0.weight": torch.zeros(8, 3, 4, 4)}, path)

    with pytest.raises(NapariGanError) as raised:
        load_generator(path)

    assert "matches no supported architecture" in str(raised.value)
    assert "conv_first.weight" in str(raised.value)
    assert "body.0.weight" in str(raised.value)
    assert "model.model.0.weight" in str(raised.value)


def test_missing_key_is_named(tmp_path):
    state = _rrdbnet().state_dict()
    del state["body.1.rdb2.conv3.weight"]
    path = tmp_path / "incomplete.pth"
    torch.save(state, path)

    with pytest.raises(NapariGanError, match=r"missing keys: body\.1\.rdb2\.conv3\.weight"):
        load_generator(path)


def test_shape_mismatch_raises(tmp_path):
    state = _rrdbnet().state_dict()
    state["conv_hr.weight"] = torch.zeros(4, 4, 1, 1)
    path = tmp_path / "mismatch.pth"
    torch.save(state, path)

    with pytest.raises(NapariGanError, match=r"shape mismatches: conv_hr\.weight"):
        load_generator(path)


def test_unknown_name_lists_bundled():
    with pytest.raises(NapariGanError) as raised:
        load_generator("no-such-model")

    assert "unknown model 'no-such-model'" in str(raised.value)
    assert "bundled models:" in str(raised.value)
    for name in napari_gan.list_models():
        assert name in str(raised.value)


def test_folder_path_raises(tmp_path):
    with pytest.raises(NapariGanError, match="is a folder"):
        load_generator(tmp_path)


def test_missing_file_raises(tmp_path):
    with pytest.raises(NapariGanError, match="not found"):
        load_generator(tmp_path / "missing.pth")


def test_unknown_extension_raises(tmp_path):
    path = tmp_path / "weights.h5"
    path.write_bytes(b"\x89HDF")

    with pytest.raises(NapariGanError, match=r"unknown extension '\.h5'"):
        load_generator(path)


@pytest.mark.skipif(not napari_gan.list_models(task="superres"), reason="no bundled generators in this checkout")
def test_bundled_generator_applies():
    name = napari_gan.list_models(task="superres")[0]
    generator = load_generator(name)
    image = data.camera()[:32, :40]
    result = generator.apply(image, tile=None)

    assert generator.info.source == "bundled"
    assert result.shape == (32 * generator.scale, 40 * generator.scale)
    assert result.dtype == np.uint8
