"""Command-line layer of training, evaluation, prediction, export and the demo (thin wrappers over the
library).

The integrator registers the plain functions as top-level commands::

    app.command("train")(train_command)
    app.command("evaluate")(evaluate_command)
    app.command("predict")(predict_command)
    app.command("export")(export_command)
    app.command("demo")(demo_command)
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

__all__ = [
    "app",
    "demo_command",
    "evaluate_command",
    "export_command",
    "predict_command",
    "train_command",
]

app = typer.Typer(help="Train, evaluate, export and apply particle-cloud taggers.", no_args_is_help=True)
console = Console()


def _progress_bar(total_epochs: int):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    state: dict = {"task": None, "epoch": None}

    def callback(info: dict) -> None:
        if "steps" in info:
            if state["epoch"] != info["epoch"]:
                if state["task"] is not None:
                    progress.remove_task(state["task"])
                state["task"] = progress.add_task(
                    f"epoch {info['epoch'] + 1}/{total_epochs}", total=info["steps"], info=""
                )
                state["epoch"] = info["epoch"]
            progress.update(state["task"], completed=info["step"], info=f"loss {info['loss']:.4f}")
        else:
            progress.console.print(
                f"epoch {info['epoch'] + 1}: train loss {info['train_loss']:.4f}"
                f"  val loss {info['val_loss']:.4f}"
                f"  val acc {info['val_acc']:.4f}"
            )

    return progress, callback


#: train_command's options → the TrainSettings field each sets (the rest have the same name)
_SETTING_OF_OPTION = {"network_options": "network_kwargs", "patience": "early_stopping_patience"}
_NOT_SETTINGS = ("ctx", "data_config", "train_files", "val_files", "out", "resume", "overwrite")


def _resume_defaults(ctx: typer.Context, out: Path, given: dict) -> dict:
    """For ``train --resume``: the options not given on the command line taken from the run folder (its
    ``train.json``: settings and files; ``data_config.yaml``), so that ``higgsflow train -o RUN --resume``
    continues a run without repeating its options. Options given on the command line are kept (a change the
    checkpoint forbids is refused later, naming the option)."""
    from higgsflow.errors import CheckpointError

    if not (out / "checkpoint.pt").is_file():
        raise CheckpointError("nothing to resume: no checkpoint.pt", file=out)
    record = out / "train.json"
    if not record.is_file():
        return given
    try:
        saved = json.loads(record.read_text())
        settings, files = (
            saved["settings"],
            {"train_files": saved["train_files"], "val_files": saved["val_files"]},
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise CheckpointError(f"unreadable run record ({exc})", file=record) from None
    merged = dict(given)
    for name in given:
        source = ctx.get_parameter_source(name)
        if source is not None and source.name != "DEFAULT":
            continue  # given on the command line (by name: typer may vendor its own click)
        if name == "data_config" and (out / "data_config.yaml").is_file():
            merged[name] = out / "data_config.yaml"
        elif name in files:
            merged[name] = [Path(f) for f in files[name]]
        elif name not in _NOT_SETTINGS:
            key = _SETTING_OF_OPTION.get(name, name)
            if key in settings:
                merged[name] = json.dumps(settings[key]) if name == "network_options" else settings[key]
    return merged


def train_command(
    ctx: typer.Context,
    data_config: Path | None = typer.Option(
        None, "--data-config", "-c", help="weaver-style data config (YAML); with --resume: the run's own"
    ),
    network: str = typer.Option(
        "part",
        "--network",
        "-n",
        help="part, particlenet, pfn, dnn, part_sv, particlenet_sv (PF + SV), upart, deepjet (charged + neutral PF + SV)",
    ),
    train_files: list[Path] | None = typer.Option(
        None, "--train", help="training files (.root/.parquet); with --resume: the run's own"
    ),
    val_files: list[Path] | None = typer.Option(
        None, "--val", help="validation files; with --resume: the run's own"
    ),
    out: Path = typer.Option(..., "--out", "-o", help="run folder to create"),
    epochs: int = typer.Option(20, help="number of epochs"),
    batch_size: int = typer.Option(512, help="global batch size"),
    lr: float = typer.Option(1e-3, help="peak learning rate"),
    optimizer: str = typer.Option("ranger", help="ranger (Lookahead-RAdam) or adamw"),
    scheduler: str = typer.Option("flat+decay", help="flat+decay, cosine or none"),
    warmup_steps: int = typer.Option(0, help="linear warm-up steps"),
    grad_clip: float | None = typer.Option(None, help="clip the gradient norm to this value"),
    seed: int = typer.Option(42, help="random seed"),
    num_workers: int = typer.Option(0, help="DataLoader worker processes"),
    patience: int | None = typer.Option(None, help="early stopping after this many epochs without gain"),
    network_options: str = typer.Option("{}", help="JSON of network options, e.g. '{\"num_layers\": 4}'"),
    max_train_jets: int | None = typer.Option(None, help="use at most this many training jets"),
    tensorboard: bool = typer.Option(False, help="also write a TensorBoard log"),
    micro_batch_size: int | None = typer.Option(
        None,
        help="jets per forward/backward pass (gradients are accumulated over a batch); "
        "default: the most that fit --max-memory-gb",
    ),
    max_memory_gb: float | None = typer.Option(
        None,
        help="memory for the activations of a training step, in GB "
        "(default 2 on the CPU, at most half the free memory; 80 percent of the free memory of a GPU)",
    ),
    checkpoint_every: int = typer.Option(
        200, help="also save checkpoint.pt every this many steps (Ctrl-C always saves one)"
    ),
    load: str = typer.Option(
        "auto",
        help="memory (read all jets first), stream (read the files a window at a time, for data larger than "
        "memory) or auto (stream a set of files with more jets than --fetch-jets)",
    ),
    fetch_jets: int = typer.Option(
        100_000, help="jets read at a time when streaming (about two windows are in memory)"
    ),
    adversarial_eps: float | None = typer.Option(
        None,
        help="adversarial training: attack size ε in units of each feature's spread (e.g. 0.1; default: off)",
    ),
    adversarial_every: int = typer.Option(3, help="adversarial training on every n-th step"),
    adversarial_method: str = typer.Option("ngm", help="ngm (normalised gradient) or fgsm (gradient sign)"),
    resume: bool = typer.Option(
        False,
        help="continue the run in --out from its checkpoint.pt; options not given are the run's own "
        "(train.json, data_config.yaml)",
    ),
    overwrite: bool = typer.Option(False, help="reuse an existing run folder"),
) -> None:
    """Train a tagger (run under `torchrun` for DistributedDataParallel)."""
    from higgsflow.errors import ConfigError, UsageError
    from higgsflow.train.loop import TrainSettings, train

    opts = {
        k: v
        for k, v in locals().items()
        if k not in ("ctx", "ConfigError", "UsageError", "TrainSettings", "train")
    }
    if resume:
        opts = _resume_defaults(ctx, out, opts)
    for name, option in (
        ("data_config", "--data-config"),
        ("train_files", "--train"),
        ("val_files", "--val"),
    ):
        if not opts[name]:
            raise UsageError("missing option (required unless --resume finds the run's own)", field=option)
    try:
        kwargs = json.loads(opts["network_options"])
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not valid JSON: {exc.msg}", field="--network-options") from None
    settings = TrainSettings(
        network_kwargs=kwargs,
        **{
            _SETTING_OF_OPTION.get(k, k): v
            for k, v in opts.items()
            if k not in _NOT_SETTINGS and k != "network_options"
        },
    )
    progress, callback = _progress_bar(settings.epochs)
    with progress:
        result = train(
            opts["data_config"],
            opts["train_files"],
            opts["val_files"],
            out,
            settings,
            overwrite=overwrite,
            resume=resume,
            progress=callback,
        )
    console.print(
        f"best epoch {result.best_epoch + 1} (val loss {result.best_val_loss:.4f}); run in {result.run_dir}"
    )


def _print_metrics(metrics, title: str = "tagger performance") -> None:
    from rich.table import Table

    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for k, v in metrics.table():
        table.add_row(k, v)
    console.print(table)


def evaluate_command(
    run: Path = typer.Argument(..., help="run folder from `train`"),
    test_files: list[Path] = typer.Option(..., "--test", help="test files"),
    out: Path | None = typer.Option(None, help="output folder (default RUN/eval)"),
    batch_size: int = typer.Option(512, help="inference batch size"),
    overwrite: bool = typer.Option(False, help="replace an existing evaluation"),
    attack_eps: float | None = typer.Option(
        None, help="also the metrics under an attack of this size (in units of each feature's spread)"
    ),
    attack_method: str = typer.Option("ngm", help="ngm (normalised gradient) or fgsm (gradient sign)"),
) -> None:
    """Accuracy, AUC, background rejection at the JetClass working points; ROC and score plots."""
    from higgsflow.train.inference import evaluate_run

    res = evaluate_run(
        run,
        test_files,
        out=out,
        batch_size=batch_size,
        overwrite=overwrite,
        attack_eps=attack_eps,
        attack_method=attack_method,
    )
    _print_metrics(res.metrics)
    attack = json.loads(res.metrics_path.read_text()).get("attack")
    if attack:
        console.print(
            f"under a {attack['method']} attack of ε = {attack['epsilon']:g}: AUC {attack['auc']:.4f} "
            f"(nominal {res.metrics.auc:.4f}), accuracy {attack['accuracy']:.4f}"
        )
    console.print(f"metrics: {res.metrics_path}")
    for name, p in res.plots.items():
        console.print(f"{name} plot: {p}")


def predict_command(
    run: Path = typer.Argument(..., help="run folder from `train`"),
    files: list[Path] = typer.Argument(..., help="files to score"),
    out_dir: Path = typer.Option(..., "--out", "-o", help="folder for the scored copies"),
    backend: str = typer.Option("onnx", help="onnx (ONNX Runtime) or torch"),
    batch_size: int = typer.Option(512, help="inference batch size"),
) -> None:
    """Write copies of FILES with one branch per model output added: score_<class>, and each regression head
    (never overwrites)."""
    from higgsflow.train.inference import predict_files

    for p in predict_files(run, files, out_dir, backend=backend, batch_size=batch_size):
        console.print(f"wrote {p}")


def export_command(
    run: Path = typer.Argument(..., help="run folder from `train`"),
    onnx: bool = typer.Option(True, "--onnx/--no-onnx", help="export to ONNX"),
    out: Path | None = typer.Option(None, help="output file (default RUN/model.onnx)"),
    overwrite: bool = typer.Option(False, help="replace an existing export"),
) -> None:
    """Export the model (named inputs, one output per head with softmax for the classes, dynamic batch and
    per-collection length axes)."""
    from higgsflow.errors import ConfigError
    from higgsflow.train.inference import export_onnx

    if not onnx:
        raise ConfigError("nothing to export", field="--onnx", expected="--onnx")
    console.print(f"wrote {export_onnx(run, out, overwrite=overwrite)}")


def demo_command(
    task: str = typer.Option(
        "jetclass",
        "--task",
        help="jetclass: AK8 jets of five JetClass classes and a small ParT; flavour: AK4 flavour jets (b, bb, c, "
        "cc, s, ud, g, τh), a small UParT-AK4 with p_T regression, and the CMS discriminants; tthcc: the ttH(cc) "
        "chain (AK4 tagger, events, event ParT and DNN, 27 regions, fit: limit on σ(ttH)B(H→cc̄), κ_c)",
    ),
    out: Path = typer.Option(None, "--out", "-o", help="folder for the sample and the run [higgsflow-demo]"),
    jets_per_class: int = typer.Option(
        None, help="generated jets per class [jetclass 300, flavour 250, tthcc 80 (the AK4 tagger's)]"
    ),
    epochs: int = typer.Option(
        None, help="training epochs [jetclass 6, flavour 15, tthcc 12 (event classifiers)]"
    ),
    seed: int = typer.Option(1, help="random seed"),
    workers: int = typer.Option(None, help="generator processes [1; tthcc 2]"),
    toy: bool = typer.Option(
        False, help="use the built-in toy jets instead of the Pythia generator (jetclass)"
    ),
    overwrite: bool = typer.Option(False, help="replace an existing demo folder"),
) -> None:
    """Generate a small sample, train a small tagger, evaluate, print the table and plot paths."""
    from rich.table import Table

    from higgsflow.errors import ConfigError
    from higgsflow.train.demo import RichDemoProgress, run_demo

    tasks = ("jetclass", "flavour", "tthcc")
    if task not in tasks:
        raise ConfigError(f"unknown demo task {task!r}", field="--task", expected=" or ".join(tasks))
    if toy and task != "jetclass":
        raise ConfigError("--toy makes JetClass-like jets only", field="--toy", expected="--task jetclass")
    out = out if out is not None else Path("higgsflow-demo")
    report = RichDemoProgress(console)
    if task == "tthcc":
        from higgsflow.train.tthcc_demo import print_tthcc_summary, run_tthcc_demo

        try:
            tresult = run_tthcc_demo(
                out,
                jets_per_class=80 if jets_per_class is None else jets_per_class,
                epochs=12 if epochs is None else epochs,
                seed=seed,
                workers=2 if workers is None else workers,
                overwrite=overwrite,
                progress=report,
            )
        finally:
            report.finish()
        print_tthcc_summary(tresult, console)
        return
    workers = 1 if workers is None else workers
    if task == "flavour":
        from higgsflow.train.flavour_demo import print_flavour_summary, run_flavour_demo

        try:
            fresult = run_flavour_demo(
                out,
                jets_per_class=250 if jets_per_class is None else jets_per_class,
                epochs=15 if epochs is None else epochs,
                seed=seed,
                workers=workers,
                overwrite=overwrite,
                progress=report,
            )
        finally:
            report.finish()
        print_flavour_summary(fresult, console)
        return
    try:
        result = run_demo(
            out,
            jets_per_class=300 if jets_per_class is None else jets_per_class,
            epochs=6 if epochs is None else epochs,
            seed=seed,
            workers=workers,
            toy=toy,
            overwrite=overwrite,
            progress=report,
        )
    finally:
        report.finish()
    test = result.split_counts["test"]
    n_train = sum(result.split_counts["train"].values())
    sizes = set(test.values())
    each = (
        f"{sizes.pop()} of each class" if len(sizes) == 1 else ", ".join(f"{n} {c}" for c, n in test.items())
    )
    m = result.metrics
    epochs_text = f"{result.epochs} epoch" + ("s" if result.epochs != 1 else "")
    console.print(
        f"\nSmall ParT trained on {n_train} jets for {epochs_text}, tested on {result.n_test} jets ({each}):",
        soft_wrap=True,
    )
    table = Table()
    table.add_column("quantity")
    table.add_column("value", justify="right")
    table.add_column(f"{m.cl * 100:.0f}% interval", justify="right")
    table.add_column("based on")
    for row in m.rows():
        table.add_row(row.quantity, row.value + (" *" if row.rough else ""), row.interval, row.basis)
    console.print(table)
    for note in m.notes():
        console.print(note, soft_wrap=True)
    for name, p in result.plots.items():
        console.print(f"{name} plot: {p}", soft_wrap=True)
    console.print(f"run folder: {result.run_dir}", soft_wrap=True)


app.command("train")(train_command)
app.command("evaluate")(evaluate_command)
app.command("predict")(predict_command)
app.command("export")(export_command)
app.command("demo")(demo_command)
