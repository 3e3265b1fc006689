import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("check_hub_code", ROOT / "utils" / "check_hub_code.py")
checker = importlib.util.module_from_spec(spec)
spec.loader.exec_module(checker)


def test_repository_method_folders_pass():
    assert checker.main([]) == 0


def test_import_rule_flags_package_and_parent_imports(tmp_path):
    (tmp_path / "helpers_x.py").write_text("X = 1\n")
    source = (
        "import os\nimport torch\nfrom .helpers_x import X\n"
        "from videotext.processing import load_video\n"
        "from ..shared_blocks import symmetric_infonce\n"
        "import decord\n"
        "def f():\n    import decord\n"
    )
    (tmp_path / "modeling_x.py").write_text(source)
    errors = checker.check_imports(tmp_path / "modeling_x.py")
    assert len(errors) == 3
    assert any("videotext.processing" in e for e in errors)
    assert any("parent-relative" in e for e in errors)
    assert any(":6:" in e and "decord" in e for e in errors)  # unguarded decord; the one inside f() is fine


def test_copy_checker_detects_drift_and_fixes_it(tmp_path):
    canonical = checker._canonical_blocks()
    good = "import torch\n\n\n# Copied from videotext.modeling.shared_blocks.symmetric_infonce\n"
    good += canonical["symmetric_infonce"] + "\n"
    path = tmp_path / "modeling_y.py"
    path.write_text(good)
    assert checker.check_copies(path, canonical, fix=False) == []
    path.write_text(good.replace("/ 2", "/ 3"))
    assert len(checker.check_copies(path, canonical, fix=False)) == 1
    checker.check_copies(path, canonical, fix=True)
    assert path.read_text() == good


def test_copy_checker_applies_renames(tmp_path):
    canonical = checker._canonical_blocks()
    renamed = canonical["all_gather_with_grad"].replace("all_gather_with_grad", "mffcl_gather")
    path = tmp_path / "modeling_z.py"
    path.write_text(
        "# Copied from videotext.modeling.shared_blocks.all_gather_with_grad with all_gather_with_grad->mffcl_gather\n"
        + renamed
        + "\n"
    )
    assert checker.check_copies(path, canonical, fix=False) == []
