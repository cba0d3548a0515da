"""The registry: versions, cards, hash-checked loading, and what `caseload status` reads."""

from __future__ import annotations

import json
import shutil

import pytest

from analytics.data.status import collect_status
from analytics.data.store import DataDir
from analytics.models import registry

pytestmark = pytest.mark.slow


@pytest.fixture
def registry_copy(trained_clinic, tmp_path):
    """A copy of the trained clinic's models folder, safe to tamper with."""
    settings, _ = trained_clinic
    root = tmp_path / "data"
    shutil.copytree(DataDir(settings.data_dir).models, root / "models")
    return DataDir(root)


def test_saved_models_load_with_their_card_and_window(trained_clinic):
    settings, outcomes = trained_clinic
    data_dir = DataDir(settings.data_dir)
    current = json.loads((data_dir.models / "current.json").read_text())
    assert {m["name"] for m in current["models"]} == {"relapse_risk", "engagement_drop"}
    for name, outcome in outcomes.items():
        model = registry.load_current(data_dir, name)
        assert model.version == outcome.version
        m = model.manifest
        assert m["sha256"] and m["features"] and m["metrics"] and m["thresholds"]
        assert m["training_window"]["test_as_of"][0] == str(outcome.trained.split.test_start)
        card = (model.path / "model_card.md").read_text()
        for heading in ("Intended use", "Data", "Metrics", "By group", "Limitations"):
            assert f"## {heading}" in card
        assert "Clinical rule" in card and "Logistic regression" in card
        assert (model.path / "heldout_predictions.parquet").is_file()
    status = collect_status(settings=settings).to_json()
    assert {m["name"] for m in status["models"]} == set(outcomes)


def test_a_tampered_model_file_is_refused(registry_copy):
    path = registry_copy.models / registry.current_models(registry_copy)[0]["path"]
    blob = (path / registry.MODEL_FILE).read_bytes()
    (path / registry.MODEL_FILE).write_bytes(blob[:-1] + bytes([blob[-1] ^ 1]))
    name = registry.current_models(registry_copy)[0]["name"]
    with pytest.raises(registry.ModelLoadError, match="does not match its recorded hash"):
        registry.load_current(registry_copy, name)


def test_a_manifest_edited_to_match_is_still_refused_by_current_json(registry_copy):
    entry = registry.current_models(registry_copy)[0]
    path = registry_copy.models / entry["path"]
    (path / registry.MODEL_FILE).write_bytes(b"not the model")
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["sha256"] = registry._sha256(path / registry.MODEL_FILE)
    (path / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(registry.ModelLoadError, match="hash"):
        registry.load_current(registry_copy, entry["name"])


def test_a_model_never_trained_is_reported(tmp_path):
    with pytest.raises(registry.NotTrainedError):
        registry.load_current(DataDir(tmp_path), "relapse_risk")
