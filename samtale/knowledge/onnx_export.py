"""Exporting the packaged all-MiniLM-L6-v2 to ONNX (:func:`export_onnx`), checked against torch, and
telling whether an export is current for the installed model package (:func:`onnx_export_current`)."""

from __future__ import annotations

import hashlib
import json
import os
import uuid
import warnings
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from samtale.knowledge.embedder_base import LOCAL_MODEL_MAX_SEQ_LENGTH, LOCAL_MODEL_NAME, EmbeddingError
from samtale.knowledge.local_embedders import (
    INPUT_FIELDS,
    INPUT_NAMES,
    LocalEmbedder,
    OnnxEmbedder,
    load_sentence_transformer,
    load_tokenizer,
    local_model_path,
)

#: ONNX operator set of the export (supported by every onnxruntime >= 1.14).
ONNX_OPSET = 17
#: The least cosine similarity between ONNX and torch vectors accepted at export.
ONNX_MIN_COSINE = 0.9999


def onnx_export_dir(data_dir: Path, *, models_dir: Path | None = None) -> Path:
    """Where the ONNX export of the local model lives: under ``models_dir`` (``SAMTALE_MODELS_DIR``,
    which several deployments, the benchmarks and CI may share) or else ``data_dir/models``."""
    return (models_dir or data_dir / "models") / f"{LOCAL_MODEL_NAME}-onnx"


@lru_cache(maxsize=4)
def _weights_digest(model_dir: Path) -> str:
    digest = hashlib.sha256()
    with (model_dir / "model.safetensors").open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_pipeline(model_dir: Path) -> None:
    modules = [module["type"].rsplit(".", 1)[-1] for module in json.loads((model_dir / "modules.json").read_text())]
    pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
    if modules != ["Transformer", "Pooling", "Normalize"] or not pooling.get("pooling_mode_mean_tokens"):
        raise EmbeddingError(f"cannot export {model_dir.name}: expected Transformer → mean Pooling → Normalize")


def export_onnx(*, target_dir: Path, force: bool = False) -> Path:
    """Export the packaged all-MiniLM-L6-v2 to ``target_dir/model.onnx`` (fp32) and check it.

    The graph is the transformer followed by mean pooling over the attention mask and L2
    normalisation, exactly the sentence-transformers pipeline, with dynamic batch and sequence
    axes. The export is checked against torch on sample texts (cosine ≥ :data:`ONNX_MIN_COSINE`)
    before it is moved into place, and ``export.json`` records the weights' SHA-256 so a changed
    model package is re-exported. Needs torch, onnx and onnxruntime; downloads nothing.

    Args:
        target_dir: the folder to write (created); see :func:`onnx_export_dir`.
        force: export even when a current export exists.

    Returns:
        The path of ``model.onnx``.

    Raises:
        EmbeddingError: a package is missing, the export failed or its vectors differ from torch's.
    """
    model_dir = local_model_path()
    target = target_dir / "model.onnx"
    manifest_path = target_dir / "export.json"
    digest = _weights_digest(model_dir)
    if not force and onnx_export_current(target_dir):
        return target
    _check_pipeline(model_dir)
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is a dependency
        raise EmbeddingError("exporting to ONNX needs torch") from exc
    transformer: Any = load_sentence_transformer()[0].auto_model

    class MeanPooled(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.transformer: Any = transformer

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            hidden = self.transformer(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            ).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
            return torch.nn.functional.normalize(pooled, p=2.0, dim=1)

    target_dir.mkdir(parents=True, exist_ok=True)
    partial = target_dir / f"model.{uuid.uuid4().hex}.partial"
    sample = ["export check", "A dry Riesling from the Mosel with lime and slate, under $20"]
    tokenizer = load_tokenizer(model_dir, LOCAL_MODEL_MAX_SEQ_LENGTH)
    encoded = tokenizer.encode_batch(sample)
    inputs = tuple(torch.tensor([getattr(e, name) for e in encoded], dtype=torch.int64) for name in INPUT_FIELDS)
    try:
        # Tracing warns where the model turns a tensor into a Python value (shapes become constants),
        # and the exporter about operators it rewrites (advanced indexing, negative indices). The
        # dynamic axes below and the cosine check against torch after the export cover both, so
        # they are silenced here rather than shown to every operator who exports.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.filterwarnings("ignore", category=UserWarning, module=r"torch\.onnx\.")
            torch.onnx.export(
                MeanPooled().eval(),
                inputs,
                str(partial),
                input_names=list(INPUT_NAMES),
                output_names=["embedding"],
                dynamic_axes={
                    **{name: {0: "batch", 1: "sequence"} for name in INPUT_NAMES},
                    "embedding": {0: "batch"},
                },
                opset_version=ONNX_OPSET,
                dynamo=False,
            )
        reference = LocalEmbedder().embed_sync(sample)
        exported = OnnxEmbedder(model_file=partial).embed_sync(sample)
        cosine = float(np.min(np.sum(reference * exported, axis=1)))
        if cosine < ONNX_MIN_COSINE:
            raise EmbeddingError(f"the ONNX export differs from torch (cosine {cosine:.5f} < {ONNX_MIN_COSINE})")
        os.replace(partial, target)
    except EmbeddingError:
        raise
    except Exception as exc:
        raise EmbeddingError(f"exporting {LOCAL_MODEL_NAME} to ONNX failed: {type(exc).__name__}: {exc}") from exc
    finally:
        partial.unlink(missing_ok=True)
    manifest = {"model": LOCAL_MODEL_NAME, "weights_sha256": digest, "opset": ONNX_OPSET, "torch": torch.__version__}
    partial_manifest = target_dir / f"export.{uuid.uuid4().hex}.partial"
    partial_manifest.write_text(json.dumps(manifest, indent=2))
    os.replace(partial_manifest, manifest_path)  # workers exporting at once each leave a whole file
    return target


def onnx_export_current(target_dir: Path) -> bool:
    """True when ``target_dir`` holds an export of the installed model package (see :func:`export_onnx`)."""
    manifest_path = target_dir / "export.json"
    if not (target_dir / "model.onnx").exists() or not manifest_path.exists():
        return False
    try:
        manifest = json.loads(manifest_path.read_text())
    except (OSError, ValueError):
        return False
    return manifest.get("weights_sha256") == _weights_digest(local_model_path()) and manifest.get("opset") == ONNX_OPSET
