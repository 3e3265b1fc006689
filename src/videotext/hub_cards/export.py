"""`videotext export` and `videotext push`: a clean Hub folder of a videotext model, and its upload in one commit.

```python
from videotext.hub_cards import export_model, push_model
export_model("runs/tiny", "hub/tiny")                     # weights, config + code, processor, README.md, adapter/
push_model("runs/tiny", "my-org/tiny-mffcl", private=True)  # the same folder, one commit to the Hub
```

The folder is written by `videotext.export.save_hub_folder` from the model and processor loaded with
`videotext.inference.load_model_and_processor` (so it holds exactly what the method exports), plus the model card and,
for a LoRA run, the adapter (`MODEL/adapter`). Training state (checkpoints, logs, optimizer files, metrics) is never
copied.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from .model_card import DEFAULT_LICENSE, HubCardError, build_model_card, collect_sources

__all__ = ["TRAINING_STATE", "cli_export", "cli_push", "export_model", "hub_error_message", "hub_errors", "push_model"]

# names that belong to a training run, never to a Hub folder (checked after every export)
TRAINING_STATE = ("checkpoints", "log.jsonl", "logs", "metrics.json", "recipe.yaml", "optimizer.bin", "optimizer.pt",
                  "scheduler.bin", "scheduler.pt", "scaler.pt", "random_states_0.pkl", "trainer_state.json",
                  "training_args.bin")  # fmt: skip
ADAPTER_DIR = "adapter"
_ADAPTER_SKIP = ("README.md",)  # peft's placeholder card: the model card covers the adapter


def _is_training_state(rel: str) -> bool:
    parts = Path(rel).parts
    name = parts[-1]
    return (
        parts[0] in TRAINING_STATE
        or name in TRAINING_STATE
        or name.startswith(("optimizer.", "scheduler.", "random_states", "custom_checkpoint"))
    )


def _files(folder: Path) -> list[str]:
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def _prepare_out(model_dir: Path, out: Path, overwrite: bool) -> None:
    model_abs, out_abs = model_dir.resolve(), out.resolve()
    if out_abs == model_abs or out_abs in model_abs.parents:
        raise HubCardError(f"{out}: the export folder must not be the model folder or contain it")
    if out.exists() and not out.is_dir():
        raise HubCardError(f"{out}: exists and is not a folder")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise HubCardError(f"{out}: folder is not empty (pass --overwrite to replace its contents)")
        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)


def _resolve_model(model: str | os.PathLike) -> Path:
    """A local folder as is; a Hub repo id is downloaded (a snapshot) first."""
    path = Path(model)
    if path.exists() or os.path.isabs(str(model)) or str(model).startswith("."):
        return path
    from huggingface_hub import snapshot_download
    from huggingface_hub.utils import HFValidationError

    try:
        return Path(snapshot_download(str(model)))
    except HFValidationError:
        return path  # neither a folder nor a repo id: read_model_folder names it
    except hub_errors() as err:
        raise HubCardError(
            f"{model}: no such folder, and downloading it from the Hub failed: {hub_error_message(err)}"
        ) from err


def export_model(
    model_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    *,
    repo_id: str | None = None,
    metrics_files: list[str | os.PathLike] | None = None,
    license: str = DEFAULT_LICENSE,
    dataset_ids: list[str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the Hub folder of the model in `model_dir` (a `videotext train` output folder or any Hub folder of a
    registered method) to `out_dir`: config (with `auto_map`), safetensors weights, the method's code, processor,
    tokenizer(s), generation config, README.md (the model card) and `adapter/` when the model was trained with LoRA.

    `repo_id` is what the card's snippets load from (default: `out_dir` as given); `metrics_files` are `videotext eval`
    JSONs or a training `metrics.json` for `model-index` (default: the folder's `eval_*.json`, else its training
    metrics). Raises `HubCardError` (naming the file) on bad input."""
    model_path = _resolve_model(model_dir)
    out = Path(out_dir)
    sources = collect_sources(model_path, metrics_files)  # validates the folder and the metrics files first
    _prepare_out(model_path, out, overwrite)
    try:
        _write_export(
            model_path,
            out,
            sources,
            repo=repo_id or str(out_dir),
            model_name=(repo_id or out.resolve().name).split("/")[-1],
            license=license,
            dataset_ids=dataset_ids,
        )
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)  # no half-written export
        raise
    return out


def _write_export(model_path: Path, out: Path, sources, **card_kwargs: Any) -> None:
    from videotext.export import save_hub_folder
    from videotext.inference import load_model_and_processor

    model, processor = load_model_and_processor(str(model_path), device="cpu")
    save_hub_folder(model, processor, out)
    if sources.adapter is not None:
        target = out / ADAPTER_DIR
        target.mkdir(exist_ok=True)
        for item in sorted((model_path / ADAPTER_DIR).iterdir()):
            if item.is_file() and item.name not in _ADAPTER_SKIP:
                shutil.copy2(item, target / item.name)

    stray = [rel for rel in _files(out) if _is_training_state(rel)]
    if stray:  # save_hub_folder writes none of these; a guard for what later code may add
        raise HubCardError(f"{out}: training state in the export: {', '.join(stray)}")

    exported_config = json.loads((out / "config.json").read_text())
    build_model_card(sources, exported_config=exported_config, **card_kwargs).save(out / "README.md")


def push_model(
    model_dir: str | os.PathLike,
    repo_id: str,
    *,
    private: bool | None = None,
    revision: str | None = None,
    commit_message: str | None = None,
    token: str | None = None,
    **export_kwargs: Any,
):
    """Export `model_dir` to a temporary folder and upload it to the Hub model repo `repo_id` in ONE commit
    (`HfApi.create_repo(exist_ok=True)`, `create_branch` for a `revision`, then `create_commit`). Returns the
    `CommitInfo`. Files already in the repo and not in the export are left as they are.

    Bad input (the model folder, the metrics files, the repo id) fails before any request, and no network or missing
    credentials fail at `create_repo`, before the export: `HubCardError` with one line."""
    from huggingface_hub import CommitOperationAdd, HfApi
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as err:
        raise HubCardError(f"--repo-id {repo_id!r}: {err}") from None
    model_path = _resolve_model(model_dir)
    collect_sources(model_path, export_kwargs.get("metrics_files"))
    api = HfApi(token=token)
    with _hub_requests(repo_id):
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        if revision:
            api.create_branch(repo_id, repo_type="model", branch=revision, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="videotext-push-") as tmp:
        folder = export_model(model_path, Path(tmp) / repo_id.split("/")[-1], repo_id=repo_id, **export_kwargs)
        operations = [CommitOperationAdd(path_in_repo=rel, path_or_fileobj=str(folder / rel)) for rel in _files(folder)]
        with _hub_requests(repo_id):
            return api.create_commit(
                repo_id=repo_id,
                repo_type="model",
                operations=operations,
                commit_message=commit_message or f"Upload {Path(str(model_dir)).name} with videotext",
                revision=revision,
            )


@contextlib.contextmanager
def _hub_requests(repo_id: str):
    """Hub client errors inside the block -> one-line `HubCardError`."""
    try:
        yield
    except hub_errors() as err:
        raise HubCardError(f"upload to {repo_id} failed: {hub_error_message(err)}") from err


# ------------------------------------------------------------------------------------------------------ errors
def hub_errors() -> tuple[type[BaseException], ...]:
    """What the Hub client raises for no network, no / bad credentials, HTTP errors and a bad repo id."""
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError

    return (OSError, HFValidationError, HfHubHTTPError, *HfHubHTTPError.__mro__[1:2])  # [1]: httpx's HTTPError


def hub_error_message(err: BaseException) -> str:
    """One line for a Hub client error (its first line, plus what to do for missing credentials)."""
    from huggingface_hub.errors import HfHubHTTPError, LocalTokenNotFoundError, OfflineModeIsEnabled

    first = (str(err).strip().splitlines() or [type(err).__name__])[0]
    status = getattr(getattr(err, "response", None), "status_code", None)
    if isinstance(err, OfflineModeIsEnabled):
        return f"the Hugging Face Hub is not reachable: offline mode is on (HF_HUB_OFFLINE=1) ({first})"
    if isinstance(err, LocalTokenNotFoundError) or (isinstance(err, HfHubHTTPError) and status in (401, 403)):
        return f"not authorised on the Hugging Face Hub: log in with `hf auth login` or set HF_TOKEN ({first})"
    if isinstance(err, HfHubHTTPError):
        return f"the Hugging Face Hub refused the request ({first})"
    return f"the Hugging Face Hub is not reachable ({type(err).__name__}: {first})"


# ------------------------------------------------------------------------------------------------------ commands
def _common_kwargs(args) -> dict[str, Any]:
    return {
        "metrics_files": list(args.metrics or []) or None,
        "license": args.license,
        "dataset_ids": list(args.dataset_id or []) or None,
    }


def cli_export(args) -> int:
    """`videotext export MODEL --out DIR [--repo-id ID] [--metrics FILE ...] [--license L] [--dataset-id ID ...]
    [--overwrite]`."""
    try:
        out = export_model(args.model, args.out, repo_id=args.repo_id, overwrite=args.overwrite, **_common_kwargs(args))
    except HubCardError as err:
        print(f"videotext export: error: {err}", file=sys.stderr)
        return 1
    files = _files(out)
    print(f"exported {args.model} to {out} ({len(files)} files; card: {out / 'README.md'})")
    return 0


def cli_push(args) -> int:
    """`videotext push MODEL --repo-id ORG/NAME [--private] [--revision REV] [--commit-message M] [--metrics FILE ...]
    [--license L] [--dataset-id ID ...]`."""
    try:
        info = push_model(
            args.model,
            args.repo_id,
            private=True if args.private else None,
            revision=args.revision,
            commit_message=args.commit_message,
            **_common_kwargs(args),
        )
    except HubCardError as err:
        print(f"videotext push: error: {err}", file=sys.stderr)
        return 1
    url = getattr(info, "commit_url", None) or f"https://huggingface.co/{args.repo_id}"
    print(f"pushed {args.model} to {args.repo_id}" + (f" ({args.revision})" if args.revision else "") + f": {url}")
    return 0
