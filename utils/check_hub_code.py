"""CI check for the Hub-exported method folders (PRODUCT.md §1).

1. Import rule: a file in `src/videotext/modeling/<method>/` may import only the standard library, torch, numpy,
   transformers, huggingface_hub, safetensors, and siblings as `from .sibling import x`. Optional decoders
   (decord, PIL) are allowed only inside a function body or a `try:` block, which transformers' import checker
   skips, so a Hub user without them can still load the model.
2. Copies: a block preceded by `# Copied from videotext.modeling.shared_blocks.NAME [with A->B, C->D]` must equal
   the canonical NAME in `src/videotext/modeling/shared_blocks.py` after the renames.
3. Whole-file copies: a file whose FIRST line is `# Copied from videotext.modeling.shared_files.NAME [with A->B]`
   must equal, from its second line on, the canonical file `src/videotext/modeling/shared_files/NAME.py` after the
   renames (the marker line is the copy's only extra line). The canonical files are import-checked and their own
   block copies checked too, so a sibling module (e.g. a video-processing base) can be kept identical everywhere.

Run: `python utils/check_hub_code.py` (exit 1 on any violation). `--fix` rewrites drifted copies (files first).
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELING = ROOT / "src" / "videotext" / "modeling"
CANONICAL = MODELING / "shared_blocks.py"
SHARED_FILES = MODELING / "shared_files"
ALLOWED_TOP = {"torch", "numpy", "transformers", "huggingface_hub", "safetensors", "__future__"}
OPTIONAL_GUARDED = {"decord", "PIL"}
COPY_RE = re.compile(r"^(\s*)#\s*Copied from\s+videotext\.modeling\.shared_blocks\.(\w+)(?:\s+with\s+(.*))?$")
FILE_COPY_RE = re.compile(r"^#\s*Copied from\s+videotext\.modeling\.shared_files\.(\w+)(?:\s+with\s+(.*))?$")


def _stdlib() -> set[str]:
    return set(sys.stdlib_module_names)


def _guarded_lines(tree: ast.AST) -> set[int]:
    """Line numbers of imports that sit inside a function body or a try block."""
    guarded: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Try):
            for child in ast.walk(node):
                if isinstance(child, ast.Import | ast.ImportFrom):
                    guarded.add(child.lineno)
    return guarded


def check_imports(path: Path) -> list[str]:
    errors = []
    tree = ast.parse(path.read_text(), filename=str(path))
    guarded = _guarded_lines(tree)
    stdlib = _stdlib()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level > 1:
                errors.append(f"{path}:{node.lineno}: parent-relative import `from {'.' * node.level}...`")
                continue
            if node.level == 1:
                if not node.module or "." in node.module:
                    errors.append(f"{path}:{node.lineno}: only flat `from .sibling import x` is exported")
                elif not (path.parent / f"{node.module}.py").exists():
                    errors.append(f"{path}:{node.lineno}: sibling {node.module}.py not in the folder")
                continue
            names = [node.module or ""]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            top = name.split(".")[0]
            if top in ALLOWED_TOP or top in stdlib:
                continue
            if top in OPTIONAL_GUARDED and node.lineno in guarded:
                continue
            errors.append(f"{path}:{node.lineno}: import of `{name}` is not allowed in Hub code")
    return errors


def _canonical_blocks() -> dict[str, str]:
    source = CANONICAL.read_text()
    lines = source.splitlines()
    blocks = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            start = node.lineno - 1 - len(node.decorator_list)
            blocks[node.name] = "\n".join(lines[start : node.end_lineno])
    return blocks


def _block_after(lines: list[str], index: int) -> tuple[int, int]:
    """Span [start, end) of the def/class that follows the comment at `index` (same indentation)."""
    start = index + 1
    indent = len(lines[start]) - len(lines[start].lstrip())
    end = start + 1
    while end < len(lines):
        line = lines[end]
        if line.strip() and (len(line) - len(line.lstrip())) <= indent and not line.lstrip().startswith(")"):
            break
        end += 1
    while end > start + 1 and not lines[end - 1].strip():
        end -= 1
    return start, end


def _apply_renames(text: str, spec: str | None) -> str:
    for pair in (spec or "").split(","):
        if "->" in pair:
            old, new = (part.strip() for part in pair.split("->"))
            text = text.replace(old, new)
    return text


def check_copies(path: Path, canonical: dict[str, str], fix: bool) -> list[str]:
    errors = []
    lines = path.read_text().splitlines()
    changed = False
    i = 0
    while i < len(lines):
        match = COPY_RE.match(lines[i])
        if not match:
            i += 1
            continue
        indent, name, renames = match.groups()
        if name not in canonical:
            errors.append(f"{path}:{i + 1}: `Copied from` names unknown block shared_blocks.{name}")
            i += 1
            continue
        start, end = _block_after(lines, i)
        expected = _apply_renames(canonical[name], renames)
        expected_lines = [indent + ln if ln else ln for ln in expected.splitlines()]
        if lines[start:end] != expected_lines:
            if fix:
                lines[start:end] = expected_lines
                changed = True
            else:
                errors.append(f"{path}:{i + 1}: copy of shared_blocks.{name} has drifted (run with --fix)")
        i = start + len(expected_lines)
    if changed:
        path.write_text("\n".join(lines) + "\n")
    return errors


def check_file_copy(path: Path, files_dir: Path = SHARED_FILES, fix: bool = False) -> list[str]:
    """Whole-file copy: the file after its first-line marker must equal `files_dir/NAME.py` (renamed)."""
    marker, _, body = path.read_text().partition("\n")
    misplaced = [i + 2 for i, line in enumerate(body.splitlines()) if FILE_COPY_RE.match(line.strip())]
    if misplaced:
        return [f"{path}:{misplaced[0]}: a whole-file `Copied from` marker must be the file's first line"]
    match = FILE_COPY_RE.match(marker)
    if not match:
        return []
    name, renames = match.groups()
    canonical = files_dir / f"{name}.py"
    if not canonical.is_file():
        return [f"{path}:1: `Copied from` names unknown file shared_files/{name}.py"]
    expected = _apply_renames(canonical.read_text(), renames)
    if body == expected:
        return []
    if fix:
        path.write_text(f"{marker}\n{expected}")
        return []
    return [f"{path}:1: whole-file copy of shared_files/{name}.py has drifted (run with --fix)"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fix", action="store_true", help="rewrite drifted copies from the canonical blocks")
    args = parser.parse_args(argv)
    canonical = _canonical_blocks()
    errors: list[str] = []
    folders = [p for p in sorted(MODELING.iterdir()) if p.is_dir() and (p / "__init__.py").exists()]
    for path in sorted(SHARED_FILES.glob("*.py")):
        errors += check_imports(path)
        errors += check_copies(path, canonical, args.fix)
    for folder in folders:
        for path in sorted(folder.glob("*.py")):
            errors += check_file_copy(path, fix=args.fix)
            if path.name != "__init__.py":
                errors += check_imports(path)
            errors += check_copies(path, canonical, args.fix)
    for error in errors:
        print(error)
    print(f"check_hub_code: {len(folders)} method folders, {len(errors)} problems")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
