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


def _shared_file(tmp_path):
    """A canonical whole file (itself carrying a block copy) in a stand-in `shared_files/` folder."""
    canonical = checker._canonical_blocks()
    files_dir = tmp_path / "shared_files"
    files_dir.mkdir()
    text = '"""Shared base."""\n\nimport numpy as np\n\n\n# Copied from videotext.modeling.shared_blocks.segment_centre_indices\n'
    text += canonical["segment_centre_indices"] + "\n\n\nBASE_NAME = 'Base'\n"
    (files_dir / "video_base.py").write_text(text)
    return files_dir, text


def test_file_copy_clean_passes(tmp_path):
    files_dir, text = _shared_file(tmp_path)
    path = tmp_path / "video_base.py"
    path.write_text("# Copied from videotext.modeling.shared_files.video_base\n" + text)
    assert checker.check_file_copy(path, files_dir) == []
    assert checker.check_copies(path, checker._canonical_blocks(), fix=False) == []  # inner block copies still checked
    # a file without the marker is not a whole-file copy
    plain = tmp_path / "other.py"
    plain.write_text(text.replace("Base", "Other"))
    assert checker.check_file_copy(plain, files_dir) == []


def test_file_copy_drift_is_reported_and_fixed(tmp_path):
    files_dir, text = _shared_file(tmp_path)
    marker = "# Copied from videotext.modeling.shared_files.video_base\n"
    path = tmp_path / "video_base.py"
    path.write_text(marker + text.replace("'Base'", "'Drifted'") + "EXTRA = 1\n")
    errors = checker.check_file_copy(path, files_dir)
    assert len(errors) == 1 and "shared_files/video_base.py has drifted" in errors[0]
    assert checker.check_file_copy(path, files_dir, fix=True) == []
    assert path.read_text() == marker + text
    assert checker.check_file_copy(path, files_dir) == []


def test_file_copy_renames_unknown_name_and_misplaced_marker(tmp_path):
    files_dir, text = _shared_file(tmp_path)
    path = tmp_path / "video_base_x.py"
    path.write_text(
        "# Copied from videotext.modeling.shared_files.video_base with Base->XBase\n" + text.replace("Base", "XBase")
    )
    assert checker.check_file_copy(path, files_dir) == []
    path.write_text("# Copied from videotext.modeling.shared_files.missing\n" + text)
    assert "unknown file shared_files/missing.py" in checker.check_file_copy(path, files_dir)[0]
    path.write_text('"""Doc."""\n# Copied from videotext.modeling.shared_files.video_base\n' + text)
    assert (
        ":2: a whole-file `Copied from` marker must be the file's first line"
        in checker.check_file_copy(path, files_dir)[0]
    )
