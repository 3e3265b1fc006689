import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import torch  # noqa: E402

torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def synthetic_dir(tmp_path_factory) -> str:
    """A 12-clip synthetic set (8 train / 1 validation / 3 test, 32 px, 8 frames), generated once per session.
    Tests only read it; a module that needs another size defines its own `synthetic_dir`."""
    from videotext.datasets_scripts.synthetic import generate_synthetic

    out = tmp_path_factory.mktemp("synthetic") / "synthetic-12"
    generate_synthetic(out, num_videos=12, seed=1, size=32, num_frames=8, fps=8, workers=1, progress=False)
    return str(out)
