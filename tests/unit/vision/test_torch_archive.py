"""Reading tensors out of a torch archive runs none of its code and unpickles only tensors and plain values."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import pytest
import torch

from t2igan.vision.inception import default_inception_path
from t2igan.vision.torch_archive import ArchiveError, read_tensors


def test_the_packaged_archive_yields_every_layer_by_its_attribute_path() -> None:
    tensors = read_tensors(default_inception_path())
    assert tensors["net.layers.conv.weight"].shape == (32, 3, 3, 3)
    assert tensors["net.layers.mixed_10.tower_2_conv.var"].dtype == torch.float32
    assert len(tensors) == 376  # 94 conv layers x (weight, beta, mean, var)


def test_a_torch_save_archive_reads_too(tmp_path: Path) -> None:
    state = {"a": torch.arange(6.0).view(2, 3), "nested": {"b": torch.ones(2, dtype=torch.int64)}}
    torch.save(state, tmp_path / "state.pt")
    tensors = read_tensors(tmp_path / "state.pt")
    assert torch.equal(tensors["a"], state["a"]) and torch.equal(tensors["nested.b"], state["nested"]["b"])


class _Payload:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (print, ("this ran",))


def test_an_archive_naming_any_other_global_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "evil.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("evil/data.pkl", pickle.dumps({"x": _Payload()}, protocol=4))
    with pytest.raises(ArchiveError, match=r"refusing to unpickle builtins\.print"):
        read_tensors(path)
    assert "this ran" not in capsys.readouterr().out
    (tmp_path / "plain.pt").write_bytes(b"no zip")
    with pytest.raises(ArchiveError, match="not a torch zip archive"):
        read_tensors(tmp_path / "plain.pt")
