import pytest


@pytest.fixture(scope="module", autouse=True)
def _tiny_models_single_thread(torch_single_thread):
    yield
