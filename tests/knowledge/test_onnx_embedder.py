"""An operator exports the local model to ONNX; the ONNX embedder then gives torch's vectors, faster.

One export per module (it takes ~20 s on 2 cores); no timings are asserted.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from samtale.knowledge.embedders import (
    LOCAL_MODEL_NAME,
    LocalEmbedder,
    OnnxEmbedder,
    build_local_embedder,
    export_onnx,
    onnx_export_dir,
)

TEXTS = [
    "Rainstorm 2013 Pinot Gris (Willamette Valley)",
    "Can I return jeans that are the wrong size?",
    "Nicosia 2013 Vulkà Bianco (Etna): aromas include tropical fruit, broom, brimstone and dried herb. " * 8,
    "",
]


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory holding a fresh export of the packaged model."""
    directory = tmp_path_factory.mktemp("data")
    export_onnx(target_dir=onnx_export_dir(directory))
    return directory


def test_the_export_gives_the_same_vectors_as_torch(data_dir: Path, embedder: LocalEmbedder) -> None:
    model_file = onnx_export_dir(data_dir) / "model.onnx"
    manifest = json.loads((onnx_export_dir(data_dir) / "export.json").read_text())
    assert manifest["model"] == LOCAL_MODEL_NAME and len(manifest["weights_sha256"]) == 64

    onnx = OnnxEmbedder(model_file=model_file, batch_size=2)
    vectors = onnx.embed_sync(TEXTS)
    reference = embedder.embed_sync(TEXTS)
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert float(np.min(np.sum(vectors * reference, axis=1))) > 0.9999
    assert onnx.embed_sync([]).shape == (0, 384)


def test_auto_uses_onnx_only_once_exported_and_torch_otherwise(data_dir: Path, tmp_path: Path) -> None:
    exported = build_local_embedder(runtime="auto", data_dir=data_dir)
    assert isinstance(exported, OnnxEmbedder) and exported.name == LOCAL_MODEL_NAME
    assert isinstance(build_local_embedder(runtime="auto", data_dir=tmp_path), LocalEmbedder)
    assert isinstance(build_local_embedder(runtime="torch", data_dir=data_dir), LocalEmbedder)
    assert not (onnx_export_dir(tmp_path) / "model.onnx").exists()


def test_a_second_export_reuses_the_first(data_dir: Path) -> None:
    model_file = onnx_export_dir(data_dir) / "model.onnx"
    written = model_file.stat().st_mtime_ns
    assert export_onnx(target_dir=onnx_export_dir(data_dir)) == model_file
    assert model_file.stat().st_mtime_ns == written
