"""The one device resolver (`neurotoolkit._utils.device`)."""

import subprocess
import sys

import pytest

from neurotoolkit._utils.device import cuda_available, is_cuda_request, resolve_device

torch = pytest.importorskip("torch")


def test_auto_picks_what_torch_sees():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device(None).type == expected
    assert cuda_available() == torch.cuda.is_available()


def test_explicit_values():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(torch.device("cpu")) == torch.device("cpu")
    assert is_cuda_request("cuda:1") and is_cuda_request(torch.device("cuda", 0))
    assert not is_cuda_request("cpu") and not is_cuda_request("auto")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_cuda_without_gpu_is_an_error_not_a_fallback():
    with pytest.raises(ValueError, match=r"Invalid value for `device`: got 'cuda' but torch sees no CUDA"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match=r"Invalid value for `my_device`"):
        resolve_device("cuda:0", name="my_device")


def test_bad_values_name_the_parameter():
    with pytest.raises(ValueError, match=r"Invalid value for `device`: expected 'auto', 'cpu'.*got 'gpu'"):
        resolve_device("gpu")
    with pytest.raises(TypeError, match=r"Invalid type for `device`.*got int 3"):
        resolve_device(3)


def test_cuda_available_is_cheap_without_a_driver():
    # on a machine with no NVIDIA driver the check must not import torch (seconds)
    code = (
        "import sys, os, glob\n"
        "from neurotoolkit._utils.device import cuda_available\n"
        "has_driver = os.path.exists('/proc/driver/nvidia') or glob.glob('/dev/nvidia[0-9]*')\n"
        "print(cuda_available(), 'torch' in sys.modules, bool(has_driver))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    available, imported, has_driver = out.stdout.split()
    if has_driver == "False" and sys.platform.startswith("linux"):
        assert (available, imported) == ("False", "False")
    else:
        assert available == str(torch.cuda.is_available())
