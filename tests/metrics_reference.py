#!/usr/bin/python3
"""Random predictions with their metrics from scikit-learn and SciPy, as JSON, for test_metrics."""
import json

import numpy as np
from scipy.stats import pearsonr, spearmanr
from sklearn.metrics import accuracy_score, f1_score, matthews_corrcoef

rng = np.random.default_rng(7)
cases = []
for k, n in ((2, 50), (2, 500), (3, 300), (5, 1000)):
    gold = rng.integers(0, k, n)
    pred = np.where(rng.random(n) < 0.6, gold, rng.integers(0, k, n))
    case = {"classes": k, "pred": pred.tolist(), "gold": gold.tolist(),
            "accuracy": accuracy_score(gold, pred), "mcc": matthews_corrcoef(gold, pred),
            "macro_f1": f1_score(gold, pred, average="macro")}
    if k == 2:
        case["f1"] = f1_score(gold, pred)
    cases.append(case)
x = rng.normal(size=400)
y = 0.5 * x + rng.normal(size=400)
y[:50] = np.round(y[:50])  # ties for Spearman
x[:60] = np.round(x[:60])
reg = {"x": x.tolist(), "y": y.tolist(), "pearson": pearsonr(x, y)[0], "spearman": spearmanr(x, y)[0]}
print(json.dumps({"classification": cases, "regression": reg}))
