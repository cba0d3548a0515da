"""Models are stored with skops, not pickle: a model file that names a type outside the
fixed trusted list is refused before anything in it is built, even when someone with
the data directory has made every hash match."""

from __future__ import annotations

import hashlib
import json
import pickle

import numpy as np
import pytest
import sklearn
import skops.io as sio
from sklearn.calibration import CalibratedClassifierCV
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.frozen import FrozenEstimator

from analytics.data.store import DataDir
from analytics.models import registry

BUILT: list[str] = []


class Planted:
    """Stands for any class an attacker names; building it would record itself."""

    def __init__(self):
        BUILT.append("init")

    def __setstate__(self, state):
        BUILT.append("setstate")


def _model(seed: int = 0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(300, 3))
    y = (x[:, 0] + rng.normal(size=300) > 0).astype(int)
    est = HistGradientBoostingClassifier(max_iter=10, random_state=0).fit(x, y)
    cal = CalibratedClassifierCV(FrozenEstimator(est), method="sigmoid").fit(x, y)
    return x, est, cal


def _register(data_dir: DataDir, blob: bytes, *, file: str = registry.MODEL_FILE) -> None:
    """A registry entry whose hashes all match ``blob`` (what an attacker would write)."""
    path = data_dir.models / "relapse_risk" / "v1"
    path.mkdir(parents=True)
    (path / file).write_bytes(blob)
    sha = hashlib.sha256(blob).hexdigest()
    manifest = {
        "name": "relapse_risk",
        "version": "v1",
        "sha256": sha,
        "features": [],
        "libraries": {"scikit-learn": sklearn.__version__},
    }
    (path / "manifest.json").write_text(json.dumps(manifest))
    entry = {"name": "relapse_risk", "version": "v1", "path": "relapse_risk/v1", "sha256": sha}
    (data_dir.models / registry.CURRENT).write_text(json.dumps({"models": [entry]}))


def test_the_models_round_trip_exactly(tmp_path):
    x, est, cal = _model()
    payload = {"name": "relapse_risk", "estimator": est, "calibrator": cal,
               "features": (), "thresholds": {"high": 0.3}}  # fmt: skip
    data_dir = DataDir(tmp_path / "data")
    _register(data_dir, sio.dumps(payload))
    loaded = registry.load_current(data_dir, "relapse_risk")
    assert np.array_equal(loaded.calibrator.predict_proba(x), cal.predict_proba(x))
    assert np.array_equal(loaded.estimator.predict_proba(x), est.predict_proba(x))


@pytest.mark.attack(15)
def test_a_model_file_naming_another_type_is_refused_unbuilt(tmp_path):
    BUILT.clear()
    x, est, cal = _model()
    payload = {"name": "relapse_risk", "estimator": Planted(), "calibrator": cal,
               "features": (), "thresholds": {}}  # fmt: skip
    BUILT.clear()
    data_dir = DataDir(tmp_path / "data")
    _register(data_dir, sio.dumps(payload))
    with pytest.raises(registry.ModelLoadError, match="does not load"):
        registry.load_current(data_dir, "relapse_risk")
    assert BUILT == []


@pytest.mark.attack(15)
def test_an_old_pickle_is_never_unpickled(tmp_path):
    BUILT.clear()
    data_dir = DataDir(tmp_path / "data")
    _register(data_dir, pickle.dumps(Planted()), file="model.pkl")
    BUILT.clear()
    with pytest.raises(registry.ModelLoadError, match="pickle"):
        registry.load_current(data_dir, "relapse_risk")
    assert BUILT == []
