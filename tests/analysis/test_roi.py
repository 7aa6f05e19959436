import numpy as np
import pandas as pd
import pytest

from neurotoolkit.analysis import roi_summary


def test_roi_summary_matches_groupby(rng):
    scores = pd.DataFrame({
        "roi": rng.choice(["V1", "FFA", "PPA"], size=37),
        "hemisphere": rng.choice(["left", "right"], size=37),
        "r": rng.normal(size=37),
        "flag": rng.random(37) > 0.5,
    })
    scores["roi"] = scores["roi"].astype("string")
    out = roi_summary(scores, quantiles=(0.5, 0.9)).set_index("roi")
    assert list(out.columns) == ["n_units", "r_mean", "r_q50", "r_q90"]   # bools and strings skipped
    for roi, grp in scores.groupby("roi"):
        assert out.loc[roi, "n_units"] == len(grp)
        np.testing.assert_allclose(out.loc[roi, "r_mean"], grp["r"].mean())
        np.testing.assert_allclose(out.loc[roi, "r_q90"], grp["r"].quantile(0.9))
    two = roi_summary(scores, by=["roi", "hemisphere"], columns=["r"])
    assert two["n_units"].sum() == 37


def test_roi_summary_unknown_column():
    with pytest.raises(ValueError, match="Invalid value for `by`"):
        roi_summary(pd.DataFrame({"r": [1.0]}), by="roi")
