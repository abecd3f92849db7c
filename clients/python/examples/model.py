"""The example's model: a scikit-learn classifier over the Wisconsin breast cancer
data set that ships with scikit-learn (no download), in two versions.

- version ``1.0.0``: standardised features, logistic regression (C = 1.0);
- version ``2.0.0``: the same with much stronger regularisation (C = 0.01), a
  candidate that is expected to decide differently on a few cases.

Training is deterministic, so every process that loads a version gets the same
model.
"""

from __future__ import annotations

from typing import Any

from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler

VERSIONS = {"1.0.0": 1.0, "2.0.0": 0.01}
NAME = "breast-cancer-triage"


def split() -> tuple[Any, Any, Any, Any]:
    """The fixed train/test split: (train X, test X, train y, test y)."""
    data = load_breast_cancer()
    out: tuple[Any, Any, Any, Any] = tuple(  # type: ignore[assignment]
        train_test_split(data.data, data.target, test_size=0.3, random_state=0)
    )
    return out


def train(version: str) -> Pipeline:
    """The model of ``version``, trained on the fixed split."""
    x_train, _, y_train, _ = split()
    model = make_pipeline(StandardScaler(), LogisticRegression(C=VERSIONS[version], max_iter=5000))
    model.fit(x_train, y_train)
    return model


def decide(model: Pipeline, features: list[float]) -> dict[str, Any]:
    """The model's answer for one case: a label and the probability of malignancy."""
    # In scikit-learn's copy of the data set, class 0 is malignant.
    p_malignant = float(model.predict_proba([features])[0][0])
    label = "refer" if p_malignant >= 0.5 else "routine"
    return {"decision": label, "score": round(p_malignant, 6)}
