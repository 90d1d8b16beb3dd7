"""``napari-gan train superres`` on image files, interrupted runs, and data-parallel training under torchrun."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import imageio.v3 as iio
import pytest
import skimage.data
import tifffile
import torch

import napari_gan
from napari_gan.cli import main
from napari_gan.training.checkpoint import list_checkpoints, read_checkpoint

TINY_OPTIONS = [
    "--scale", "2", "--patch-size", "32", "--batch-size", "2", "--num-feat", "4", "--num-conv", "1",
    "--d-num-feat", "4", "--discriminator", "patchgan", "--warmup-steps", "2", "--device", "cpu",
]


@pytest.fixture
def data_dir(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    iio.imwrite(folder / "camera.png", skimage.data.camera()[:96, :96])
    tifffile.imwrite(folder / "moon.tif", skimage.data.moon()[:80, :64].astype("uint16") * 30)
    return folder


def test_train_then_resume(tmp_path, data_dir, capsys):
    run = tmp_path / "run"
    assert main(["train", "superres", "--data", str(data_dir), "--out", str(run), "--steps", "4", *TINY_OPTIONS]) == 0
    assert "finished at step 4 of 4" in capsys.readouterr().out
    assert main(["train", "superres", "--out", str(run), "--resume", "--steps", "6"]) == 0
    assert "finished at step 6 of 6" in capsys.readouterr().out
    generator = napari_gan.load_generator(run / "generator.safetensors")
    assert generator.info.training_config["trained_steps"] == 6
    assert (run / "config.json").is_file()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--data", "missing.png"], "training data 'missing.png' not found"),
        (["--resume"], "has no config.json to resume"),
        (["--data", "DATA", "--patch-size", "200"], "smaller than the 200-pixel patch size"),
        (["--data", "DATA", "--gan-loss", "wgan"], "gan_loss must be one of"),
        (["--data", "DATA", "--scale", "3", "--arch", "rrdbnet"], "scale must be 2 or 4"),
    ],
)
def test_train_bad_input(tmp_path, data_dir, capsys, arguments, message):
    arguments = [str(data_dir) if value == "DATA" else value for value in arguments]
    status = main(["train", "superres", "--out", str(tmp_path / "run"), *TINY_OPTIONS, *arguments])
    error = capsys.readouterr().err
    assert status == 2
    assert message in error
    assert error.count("\n") == 1


def test_train_invalid_number_rejected(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["train", "superres", "--out", str(tmp_path), "--steps", "many"])
    assert exit_info.value.code == 2


def test_kill_during_run_then_resume(tmp_path, data_dir):
    run = tmp_path / "run"
    command = [sys.executable, "-m", "napari_gan", "train", "superres", "--data", str(data_dir), "--out", str(run),
               "--steps", "100000", "--autosave-every-steps", "3", *TINY_OPTIONS]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while len(list_checkpoints(run)) < 2 and time.monotonic() < deadline:
            time.sleep(0.2)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    checkpoints = list_checkpoints(run)
    assert checkpoints, "no checkpoint was written before the kill"
    saved_step = read_checkpoint(checkpoints[-1])["step"]

    resumed = subprocess.run(
        [sys.executable, "-m", "napari_gan", "train", "superres", "--out", str(run), "--resume", "--steps", str(saved_step + 2)],
        capture_output=True, text=True, timeout=300,
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"finished at step {saved_step + 2}" in resumed.stdout


TORCHRUN_SCRIPT = textwrap.dedent(
    """
    import os, sys, torch, skimage.data
    from napari_gan.training import SuperResConfig, SuperResolutionTask, Trainer, TrainingImage
    torch.manual_seed(int(os.environ["RANK"]))  # different initial weights per rank, unified by the broadcast
    config = SuperResConfig(steps=4, batch_size=2, scale=2, patch_size=32, num_feat=4, num_conv=1, d_num_feat=4,
                            discriminator="patchgan", warmup_steps=2, device="cpu")
    task = SuperResolutionTask(config, [TrainingImage(skimage.data.camera()[:96, :96])])
    trainer = Trainer(task, sys.argv[1])
    list(trainer.run())
    torch.save(task.networks.generators["net_g"].state_dict(), os.path.join(sys.argv[2], f"rank{os.environ['RANK']}.pt"))
    """
)


def test_torchrun_ranks_end_identical(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(TORCHRUN_SCRIPT)
    completed = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", str(script),
         str(tmp_path / "run"), str(tmp_path)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    rank0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    rank1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    for key in rank0:
        torch.testing.assert_close(rank1[key], rank0[key], rtol=0, atol=0, msg=key)
    assert (tmp_path / "run" / "generator.safetensors").is_file()


def test_torchrun_cli(tmp_path, data_dir):
    completed = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "napari_gan",
         "train", "superres", "--data", str(data_dir), "--out", str(tmp_path / "run"), "--steps", "3", *TINY_OPTIONS],
        capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.count("finished at step 3 of 3") == 1
