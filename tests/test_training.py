"""The GAN training loop: steps, events, checkpoints, resume, stop and failures."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import skimage.data
import torch

import napari_gan
from napari_gan.errors import NapariGanError
from napari_gan.training import (
    CheckpointEvent,
    FinishedEvent,
    Phase,
    PreviewEvent,
    RunState,
    StepEvent,
    SuperResConfig,
    SuperResolutionTask,
    Trainer,
    TrainingDiverged,
    TrainingImage,
)
from napari_gan.training.checkpoint import list_checkpoints, read_checkpoint

TINY = SuperResConfig(
    steps=12,
    batch_size=2,
    scale=2,
    patch_size=32,
    num_feat=4,
    num_conv=1,
    d_num_feat=4,
    discriminator="patchgan",
    warmup_steps=4,
    ema_decay=0.9,
    r1_gamma=1.0,
    r1_every=3,
    autosave_every_steps=5,
    preview_every=4,
    device="cpu",
)


def images() -> list[TrainingImage]:
    return [
        TrainingImage(skimage.data.camera()[:80, :96], name="camera"),
        TrainingImage(skimage.data.moon()[:64, :72].astype(np.uint16) * 20, name="moon"),
    ]


def make_trainer(run_dir, resume: bool = False, **changes) -> Trainer:
    torch.manual_seed(0)
    config = dataclasses.replace(TINY, **changes)
    return Trainer(SuperResolutionTask(config, images()), run_dir, resume=resume)


def run_all(trainer: Trainer) -> list:
    return list(trainer.run())


def final_weights(trainer: Trainer) -> dict[str, torch.Tensor]:
    state = {f"g.{k}": v for k, v in trainer.task.networks.generators["net_g"].state_dict().items()}
    state.update({f"d.{k}": v for k, v in trainer.task.networks.discriminators["net_d"].state_dict().items()})
    state.update({f"ema.{k}": v for k, v in trainer.ema.state_dict().items()})
    return state


def test_resume_matches_uninterrupted_run(tmp_path):
    whole = make_trainer(tmp_path / "whole", steps=20)
    run_all(whole)

    first = make_trainer(tmp_path / "split", steps=10)
    run_all(first)
    second = make_trainer(tmp_path / "split", resume=True, steps=20)
    assert second.step == 10
    run_all(second)

    expected, actual = final_weights(whole), final_weights(second)
    assert expected.keys() == actual.keys()
    for key in expected:
        torch.testing.assert_close(actual[key], expected[key], rtol=0, atol=0, msg=key)


def test_events_report_losses_and_accuracy(tmp_path):
    events = run_all(make_trainer(tmp_path))
    steps = [event for event in events if isinstance(event, StepEvent)]
    assert [event.step for event in steps] == list(range(1, 13))
    warmup, gan = steps[0], steps[-1]
    assert warmup.phase is Phase.WARMUP
    assert warmup.d_accuracy_real is None
    assert set(warmup.losses) == {"loss_g_pixel"}
    assert gan.phase is Phase.GAN
    assert 0.0 <= gan.d_accuracy_real <= 1.0
    assert 0.0 <= gan.d_accuracy_fake <= 1.0
    assert {"loss_g_pixel", "loss_g_gan", "loss_d"} <= set(gan.losses)
    assert gan.images_per_second > 0
    assert gan.seconds_left == 0


def test_preview_and_checkpoint_events(tmp_path):
    events = run_all(make_trainer(tmp_path))
    previews = [event for event in events if isinstance(event, PreviewEvent)]
    assert [event.step for event in previews] == [1, 4, 8, 12]
    assert previews[0].image.shape == previews[0].target.shape
    assert previews[0].image.dtype == np.float32
    checkpoints = [event.step for event in events if isinstance(event, CheckpointEvent)]
    assert checkpoints == [5, 10]
    assert isinstance(events[-1], FinishedEvent)
    assert events[-1].state is RunState.FINISHED


def test_finished_run_exports_generator(tmp_path):
    finished = run_all(make_trainer(tmp_path))[-1]
    generator = napari_gan.load_generator(finished.generator_path)
    assert generator.scale == 2
    assert generator.info.training_config["trained_steps"] == 12
    result = generator.apply(skimage.data.camera()[:20, :24])
    assert result.shape == (40, 48)


def test_keeps_newest_checkpoints(tmp_path):
    run_all(make_trainer(tmp_path, steps=12, autosave_every_steps=2, keep_checkpoints=2))
    names = [path.name for path in list_checkpoints(tmp_path)]
    assert names == ["step_00000010.pt", "step_00000012.pt"]


def test_stop_request_writes_checkpoint(tmp_path):
    trainer = make_trainer(tmp_path, steps=1000)
    events = trainer.run()
    for event in events:
        if isinstance(event, StepEvent) and event.step == 3:
            trainer.request_stop()
        if isinstance(event, FinishedEvent):
            break
    assert event.state is RunState.STOPPED
    assert event.step == 3
    assert read_checkpoint(event.checkpoint)["step"] == 3
    assert event.generator_path.is_file()


def test_closing_events_writes_checkpoint(tmp_path):
    trainer = make_trainer(tmp_path, steps=1000)
    events = trainer.run()
    for event in events:
        if isinstance(event, StepEvent) and event.step == 2:
            break
    events.close()
    assert [path.name for path in list_checkpoints(tmp_path)] == ["step_00000002.pt"]


def test_nan_loss_names_step_and_term(tmp_path, monkeypatch):
    trainer = make_trainer(tmp_path, autosave_every_steps=2)
    original = trainer.task.generator_losses

    def poisoned(*args, **kwargs):
        losses = original(*args, **kwargs)
        if trainer.step == 6:
            losses["loss_g_pixel"] = losses["loss_g_pixel"] * float("nan")
        return losses

    monkeypatch.setattr(trainer.task, "generator_losses", poisoned)
    with pytest.raises(TrainingDiverged, match=r"loss_g_pixel became nan at step 7.*step_00000006\.pt"):
        run_all(trainer)
    assert [path.name for path in list_checkpoints(tmp_path)][-1] == "step_00000006.pt"


def test_crash_during_checkpoint_write_keeps_previous(tmp_path, monkeypatch):
    trainer = make_trainer(tmp_path, autosave_every_steps=5)
    events = trainer.run()
    for event in events:
        if isinstance(event, CheckpointEvent):
            break

    def interrupted_save(state, path):
        with open(path, "wb") as stream:
            stream.write(b"partial")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", interrupted_save)
    with pytest.raises(NapariGanError, match="cannot write checkpoint"):
        list(events)
    assert [path.name for path in list_checkpoints(tmp_path)] == ["step_00000005.pt"]
    assert not list((tmp_path / "checkpoints").glob("*.part"))
    assert read_checkpoint(tmp_path / "checkpoints" / "step_00000005.pt")["step"] == 5


def test_out_of_memory_suggests_smaller_batch(tmp_path, monkeypatch):
    trainer = make_trainer(tmp_path)

    def exhausted(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory")

    monkeypatch.setattr(trainer.task, "forward", exhausted)
    with pytest.raises(NapariGanError, match="smaller batch size or patch size"):
        run_all(trainer)


def test_new_run_rejects_folder_with_checkpoints(tmp_path):
    run_all(make_trainer(tmp_path))
    with pytest.raises(NapariGanError, match="already has checkpoints"):
        make_trainer(tmp_path)


def test_resume_without_checkpoint_rejected(tmp_path):
    with pytest.raises(NapariGanError, match="no checkpoint"):
        make_trainer(tmp_path, resume=True)


def test_resume_with_changed_setting_rejected(tmp_path):
    run_all(make_trainer(tmp_path))
    with pytest.raises(NapariGanError, match="batch_size=2"):
        make_trainer(tmp_path, resume=True, batch_size=4)


def test_unwritable_run_folder_rejected(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(NapariGanError, match="not writable"):
        make_trainer(blocker / "run")


def test_full_disk_rejected_before_training(tmp_path, monkeypatch):
    import shutil

    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=1024))
    with pytest.raises(NapariGanError, match="MiB free"):
        make_trainer(tmp_path)


def test_images_smaller_than_patch_rejected(tmp_path):
    config = dataclasses.replace(TINY, patch_size=128)
    with pytest.raises(NapariGanError, match=r"smaller than the 128-pixel patch size \(sizes: 64x72, 80x96\)"):
        SuperResolutionTask(config, images())


def test_invalid_setting_named(tmp_path):
    with pytest.raises(NapariGanError, match="gan_loss must be one of"):
        make_trainer(tmp_path, gan_loss="wasserstein")


@pytest.mark.parametrize("gan_loss", ["nonsaturating", "lsgan", "hinge", "relativistic"])
def test_each_gan_loss_trains(tmp_path, gan_loss):
    events = run_all(make_trainer(tmp_path, steps=6, gan_loss=gan_loss, r1_gamma=0.0))
    assert events[-1].state is RunState.FINISHED


def test_paired_low_resolution_data(tmp_path):
    high = skimage.data.camera()[:64, :80]
    low = skimage.data.camera()[:64:2, :80:2]
    config = dataclasses.replace(TINY, steps=3)
    task = SuperResolutionTask(config, [TrainingImage(high)], [TrainingImage(low)])
    batch = task.sample_batch(torch.Generator().manual_seed(0))
    assert batch["lq"].shape == (2, 1, 16, 16)
    assert batch["gt"].shape == (2, 1, 32, 32)


def test_paired_size_mismatch_rejected():
    high = skimage.data.camera()[:64, :80]
    with pytest.raises(NapariGanError, match="divided by 2"):
        SuperResolutionTask(TINY, [TrainingImage(high)], [TrainingImage(high[:30, :40])])


def test_rgb_data_trains_three_channels(tmp_path):
    config = dataclasses.replace(TINY, steps=2)
    task = SuperResolutionTask(config, [TrainingImage(skimage.data.astronaut()[:64, :64], rgb=True)])
    assert task.channels == 3
    events = list(Trainer(task, tmp_path).run())
    generator = napari_gan.load_generator(events[-1].generator_path)
    assert generator.in_channels == 3


def test_fine_tune_from_bundled(tmp_path):
    config = dataclasses.replace(TINY, steps=2, init_from="superres-x2")
    task = SuperResolutionTask(config, images())
    bundled = napari_gan.load_generator("superres-x2")
    for name, tensor in bundled.net.state_dict().items():
        torch.testing.assert_close(task.networks.generators["net_g"].state_dict()[name], tensor)


def test_fine_tune_scale_mismatch_rejected():
    config = dataclasses.replace(TINY, init_from="superres-x4")
    with pytest.raises(NapariGanError, match="x4 1-channel generator"):
        SuperResolutionTask(config, images())


def test_auto_init_fine_tunes_matching_bundled():
    config = dataclasses.replace(SuperResConfig(), scale=2, patch_size=32, batch_size=2, d_num_feat=4, discriminator="patchgan")
    task = SuperResolutionTask(config, images())
    bundled = napari_gan.load_generator("superres-x2").net.state_dict()
    trained = task.networks.generators["net_g"].state_dict()
    torch.testing.assert_close(trained["body.0.weight"], bundled["body.0.weight"])


def test_auto_init_from_scratch_when_settings_differ():
    task = SuperResolutionTask(TINY, images())
    assert task.networks.generators["net_g"].state_dict()["body.0.weight"].shape[0] == 4


def test_ema_follows_short_runs(tmp_path):
    trainer = make_trainer(tmp_path, steps=8, ema_decay=0.999)
    initial = {k: v.clone() for k, v in trainer.task.networks.generators["net_g"].state_dict().items()}
    run_all(trainer)
    current = trainer.task.networks.generators["net_g"].state_dict()
    averaged = trainer.ema.module.state_dict()
    key = "body.0.weight"
    to_current = (averaged[key] - current[key]).norm()
    to_initial = (averaged[key] - initial[key]).norm()
    assert to_current < to_initial


def test_ema_copies_integer_buffers():
    from torch import nn

    from napari_gan.training.loop import _ema_with_warmup

    module = nn.BatchNorm2d(2)
    averaged = torch.optim.swa_utils.AveragedModel(module, multi_avg_fn=_ema_with_warmup(0.9), use_buffers=True)
    module(torch.randn(4, 2, 3, 3))
    averaged.update_parameters(module)
    averaged.update_parameters(module)
    assert int(averaged.module.num_batches_tracked) == 1
