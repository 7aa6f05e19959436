"""Shared helpers for the decoding tests."""

import numpy as np
import pytest

from neurotoolkit.features import FeatureSpace


@pytest.fixture
def gabor_pca_space():
    """A decoding target: ``make(truth, k=10)`` -> FeatureSpace of the top-k PCs of the
    simulator's true Gabor features (standardized and PCA fit on the training stimuli)."""

    def make(truth, k=10):
        """PCA (fit on the training stimuli) of the simulator's true Gabor features."""
        F = truth.features.astype(np.float64)
        train = np.isin(truth.stimulus_ids, truth.train_ids)
        mu, sd = F[train].mean(0), F[train].std(0)
        Z = (F - mu) / np.where(sd > 0, sd, 1.0)
        _, _, Vt = np.linalg.svd(Z[train], full_matrices=False)
        return FeatureSpace(Z @ Vt[:k].T, truth.stimulus_ids, f"gabor-pca{k}")

    return make
