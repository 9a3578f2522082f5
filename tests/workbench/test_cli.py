"""The command line end to end, in subprocesses, on a temporary database."""

import os
import subprocess
import sys

import pytest

from store import runs as store_runs
from store.db import connect
from tests.conftest import ROOT
from workbench.__main__ import main


def cli(*args, db=None, check=True):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    cmd = [sys.executable, "-m", "workbench", *map(str, args)]
    if db is not None:
        cmd += ["--db", str(db)]
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_run_show_export(db, image_files, tmp_path):
    content, style = image_files
    proc = cli(
        "run",
        "--content",
        content,
        "--style",
        style,
        "--backbone",
        "vgg16",
        "--size",
        48,
        "--iterations",
        12,
        "--snapshot-every",
        5,
        "--weights",
        "none",
        "--lr",
        2,
        db=db,
    )
    assert "run 1 finished" in proc.stdout
    assert "12/12" in proc.stderr  # the progress bar reached the end
    run = store_runs.get_run(db, 1)
    assert run["status"] == "finished" and run["learning_rate"] == 2 and run["steps_done"] == 12
    with connect(db) as con:
        assert con.execute("SELECT list(step ORDER BY step) FROM iterations WHERE run_id = 1").fetchone()[0] == list(
            range(1, 13)
        )
        assert con.execute("SELECT list(step ORDER BY step) FROM snapshots").fetchone()[0] == [0, 5, 10, 12]
        assert con.execute("SELECT count(*) FROM images").fetchone()[0] >= 4  # inputs, snapshots, output

    shown = cli("show", 1, db=db).stdout
    assert "finished" in shown and "block5_conv2" in shown
    assert f"output_loss: {run['total_loss']}" in shown  # one name per number (issue 11 #1)

    out = tmp_path / "export"
    cli("export", 1, "--out", out, db=db)
    names = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert names == [
        "content.png",
        "iterations.csv",
        "output.png",
        "run.json",
        "snapshots/step_000000.png",
        "snapshots/step_000005.png",
        "snapshots/step_000010.png",
        "snapshots/step_000012.png",
        "style.png",
    ]
    assert len((out / "iterations.csv").read_text().splitlines()) == 13
    assert "vgg16" in cli("list", db=db).stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["--content", "missing.jpg"], "no such file"),
        (["--content-layer", "block5_conv"], "did you mean"),
        (["--lr", "0"], "learning rate"),
        (["--lr", "fast"], "--learning-rate expects a number"),
        (["--size", "0"], "size"),
        (["--iterations", "0"], "iterations"),
        (["--weights", "no/such/file.h5"], "does not exist"),
        (["--scales", "3"], "below vgg16's 32 px minimum"),
        (["--steps-per-call", "many"], "--steps-per-call expects a number"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_no_row(db, image_files, args, message, capsys):
    # In-process (same `main` as `python -m workbench`) to keep the suite fast.
    content, style = image_files
    base = {"--content": content, "--style": style, "--size": 32, "--iterations": 2, "--weights": "none"}
    for flag, value in zip(args[::2], args[1::2], strict=True):
        base[flag] = value
    assert main(["run", *[str(x) for kv in base.items() for x in kv], "--db", str(db)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert store_runs.list_runs(db).empty


def test_text_file_named_jpg_is_rejected(db, image_files, tmp_path):
    fake = tmp_path / "photo.jpg"
    fake.write_text("hello")
    proc = cli("run", "--content", fake, "--style", image_files[1], "--weights", "none", db=db, check=False)
    assert proc.returncode == 2 and "not a readable image" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_layers_lists_defaults():
    out = cli("layers", "resnet50").stdout
    assert "conv3_block4_out\tcontent default" in out
    assert "conv1_relu\tstyle default" in out


def test_speed_flags_are_stored_with_the_run(db, image_files, capsys):
    content, style = image_files
    args = ["run", "--content", content, "--style", style, "--size", 64, "--iterations", 6, "--weights", "none"]
    args += ["--optimizer", "lbfgs", "--scales", 2, "--coarse-iterations", 2, "--steps-per-call", 3, "--jit-compile"]
    assert main([*map(str, args), "--db", str(db)]) == 0
    run = store_runs.get_run(db, 1)
    assert run["status"] == "finished" and run["learning_rate"] == 1.0
    assert (run["optimizer"], run["scales"], run["coarse_iterations"]) == ("lbfgs", 2, 2)
    assert (run["steps_per_call"], run["jit_compile"]) == (3, True)
    assert run["config"]["optimizer"] == "lbfgs" and run["config"]["jit_compile"] is True
    sizes = store_runs.get_iterations(db, 1)[["step", "size"]].values.tolist()
    assert sizes == [[1, 32], [2, 32], [3, 64], [4, 64], [5, 64], [6, 64]]
    assert main(["run", *map(str, args[1:-1]), "--no-jit-compile", "--db", str(db)]) == 0
    assert store_runs.get_run(db, 2)["jit_compile"] is False


# --- study --pair ----------------------------------------------------------------------------


@pytest.fixture()
def pair_files(image_files, tmp_path):
    """Three images: content, style and a second painting."""
    from PIL import Image

    from tests.conftest import synthetic_image

    second = tmp_path / "second.png"
    Image.fromarray(synthetic_image(36, 44, seed=4)).save(second)
    return (*image_files, second)


STUDY_FLAGS = ["--preset", "backbones", "--size", "32", "--iterations", "2", "--snapshot-every", "0"]
STUDY_FLAGS += ["--weights", "none"]


def test_study_pairs_queue_only_those_cells_and_resume(db, pair_files, monkeypatch, capsys):
    from store import studies as store_studies

    monkeypatch.setenv("NST_NO_WORKER", "1")  # queue only
    content, style, second = map(str, pair_files)
    args = ["study", *STUDY_FLAGS, "--pair", f"{content}:{style}", "--pair", f"{style}:{second}", "--db", str(db)]
    assert main(args) == 0
    assert "study 1 (backbones): 4 cells: 4 queued" in capsys.readouterr().out  # 2 variants x 2 pairs
    spec = store_studies.get_study(db, 1)["spec"]
    assert len(spec["pairs"]) == 2 and spec["content_images"][1] == spec["style_images"][0]  # style reused as photo
    runs = store_studies.study_runs(db, 1)
    assert sorted(set(zip(runs["content_image"], runs["style_image"], strict=True))) == sorted(
        tuple(p) for p in spec["pairs"]
    )  # not the 2 x 2 cross product
    assert main(args) == 0
    assert "study 1 (backbones, resumed): 4 cells: 0 queued" in capsys.readouterr().out
    cross = ["study", *STUDY_FLAGS, "--content", content, "--content", style, "--style", style, "--style", second]
    assert main([*cross, "--db", str(db)]) == 0
    assert "study 2 (backbones): 8 cells" in capsys.readouterr().out  # the cross product is another study


def test_cancel_a_study_or_runs_and_refuse_unknown_ids_before_cancelling_anything(db, pair_files, monkeypatch, capsys):
    from store import studies as store_studies

    monkeypatch.setenv("NST_NO_WORKER", "1")  # queue only
    content, style, second = map(str, pair_files)
    assert main(["study", *STUDY_FLAGS, "--pair", f"{content}:{style}", "--db", str(db)]) == 0  # 2 cells
    assert main(["study", *STUDY_FLAGS, "--pair", f"{content}:{second}", "--db", str(db)]) == 0  # study 2
    capsys.readouterr()
    first, second_run = store_studies.study_runs(db, 1)["id"]
    other = int(store_studies.study_runs(db, 2)["id"][0])
    store_runs.claim_run(db, int(second_run), "tf", "CPU")
    for bad, message in ((["--study", "9"], "no study 9"), ([str(other), "99"], "no run 99"), ([], "give RUN_ID")):
        assert main(["cancel", *bad, "--db", str(db)]) == 2
        assert message in _one_error(capsys, message)
    assert store_runs.get_run(db, other)["status"] == "queued"  # nothing was cancelled by a refused command
    assert main(["cancel", "--study", "1", "--db", str(db)]) == 0
    assert "study 1: 1 queued run(s) cancelled, 1 running run(s) stopping" in capsys.readouterr().out
    assert store_runs.get_run(db, int(first))["status"] == "cancelled"
    assert store_runs.get_run(db, int(second_run))["cancel_requested"]
    assert main(["cancel", str(other), "--db", str(db)]) == 0
    assert capsys.readouterr().out.strip() == f"run {other}: cancelled"


@pytest.mark.parametrize(
    "pairs, message",
    [
        (["photo.jpg"], "--pair expects PHOTO:PAINTING"),
        (["{content}:missing.png"], "missing.png: no such file"),
        (["{content}:"], "--pair expects PHOTO:PAINTING"),
    ],
)
def test_bad_pairs_are_one_line_exit_2_and_nothing_written(db, pair_files, pairs, message, capsys):
    from store import studies as store_studies

    content = str(pair_files[0])
    args = ["study", *STUDY_FLAGS, "--db", str(db)]
    for p in pairs:
        args += ["--pair", p.format(content=content)]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1
    assert store_studies.list_studies(db).empty and store_runs.list_runs(db).empty


def test_pairs_and_content_style_lists_do_not_mix(db, pair_files, capsys):
    content, style, _ = map(str, pair_files)
    args = ["study", *STUDY_FLAGS, "--pair", f"{content}:{style}", "--content", content, "--db", str(db)]
    assert main(args) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["study", *STUDY_FLAGS, "--content", content, "--db", str(db)]) == 2
    assert "--pair PHOTO:PAINTING" in capsys.readouterr().err


def test_a_paired_study_runs_and_reports_what_ran(db, pair_files, models, capsys):
    content, style, _ = map(str, pair_files)
    assert main(["study", *STUDY_FLAGS, "--pair", f"{content}:{style}", "--wait", "--db", str(db)], models) == 0
    capsys.readouterr()
    assert main(["report", "1", "--db", str(db)]) == 0
    report = capsys.readouterr().out
    assert "What ran (from the 2 finished run(s)): iterations 2, size 32 px" in report
    assert "1000 iterations" not in report and "1 photo:painting pair(s)" in report
    assert "one pair: no interval" in report


# --- reading: foreign and unwritable files, your own SQL, snapshots ----------------------------


def _one_error(capsys, message: str) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and len(err.strip().splitlines()) == 1, err
    return err


def _tables(path) -> list[str]:
    from tests.store.test_store import _tables as tables

    return tables(path)


def test_a_foreign_duckdb_file_is_refused_untouched(tmp_path, capsys):
    import duckdb

    path = tmp_path / "foreign.duckdb"
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE runs (lap INTEGER); INSERT INTO runs VALUES (1)")
    con.close()
    for command in (["list"], ["show", "1"], ["sql", "FROM runs"], ["snapshot", "--out", str(tmp_path / "s")]):
        assert main([*command, "--db", str(path)]) == 2
        _one_error(capsys, f"{path} is not a workbench store: it has tables runs but no schema_migrations")
    assert _tables(path) == ["runs"] and not (tmp_path / "s").exists()


@pytest.fixture()
def unwritable(monkeypatch):
    """Make a store file unwritable: chmod 444, and for root (whom that does not stop)
    make writing opens of it fail as they would for anyone else."""
    import duckdb

    from store import db as store_db

    def make(path):
        path.chmod(0o444)
        if os.geteuid() != 0:
            return
        real_connect, real_access = duckdb.connect, os.access

        def connect(database=":memory:", read_only=False, **kw):
            if str(database) == str(path) and not read_only:
                raise duckdb.IOException(f'IO Error: Cannot open file "{path}": Permission denied')
            return real_connect(database, read_only=read_only, **kw)

        monkeypatch.setattr(store_db.duckdb, "connect", connect)
        monkeypatch.setattr(os, "access", lambda p, m, **kw: False if str(p) == str(path) else real_access(p, m, **kw))

    return make


def test_read_commands_work_on_a_file_the_user_cannot_write(db, pair_files, tmp_path, monkeypatch, unwritable, capsys):
    monkeypatch.setenv("NST_NO_WORKER", "1")
    content, style, _ = map(str, pair_files)
    assert main(["study", *STUDY_FLAGS, "--pair", f"{content}:{style}", "--db", str(db)]) == 0
    unwritable(db)
    capsys.readouterr()
    for command in (
        ["list"],
        ["show", "1"],
        ["studies"],
        ["report", "1"],
        ["export", "1", "--out", str(tmp_path / "run1")],
        ["sql", "SELECT count(*) AS n FROM runs"],
        ["snapshot", "--out", str(tmp_path / "copy.duckdb")],
    ):
        assert main([*command, "--db", str(db)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "queued" in out and "n\n 2" in out
    assert (tmp_path / "run1" / "run.json").is_file() and (tmp_path / "copy.duckdb").is_file()


def test_an_unwritable_store_behind_the_schema_says_how_to_migrate(tmp_path, unwritable, capsys):
    from tests.store.test_migrations import _apply_first

    path = tmp_path / "old.duckdb"
    _apply_first(path, 2)
    before = _tables(path)
    unwritable(path)
    assert main(["list", "--db", str(path)]) == 2
    err = _one_error(capsys, f"database {path} is at schema v2 (this code needs v")
    assert err.rstrip().endswith("open it once with write access to migrate")
    assert _tables(path) == before


def test_sql_prints_a_table_csv_or_json_and_refuses_writes(db, capsys):
    from tests.store.test_store import _run

    _run(db)
    query = "SELECT id, status, style_layers, png FROM runs JOIN images ON images.id = runs.content_image"
    assert main(["sql", query.replace("SELECT id,", "SELECT runs.id,"), "--db", str(db)]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].split() == ["id", "status", "style_layers", "png"] and "<69 bytes>" in table
    assert main(["sql", "SELECT id, style_layers FROM runs", "--format", "csv", "--db", str(db)]) == 0
    assert capsys.readouterr().out == "id,style_layers\n1,\"['block1_conv1', 'block2_conv1']\"\n"
    assert main(["sql", "SELECT id, style_layers FROM runs", "--format", "json", "--db", str(db)]) == 0
    assert capsys.readouterr().out == '[{"id":1,"style_layers":["block1_conv1","block2_conv1"]}]\n'
    assert main(["sql", "SELECT 1 AS a WHERE false", "--db", str(db)]) == 0
    assert capsys.readouterr().out == "a\n(0 rows)\n"
    assert main(["sql", "UPDATE runs SET status = 'finished'", "--db", str(db)]) == 2
    _one_error(capsys, "statements that write are refused")
    assert main(["sql", "SELECT FROM WHERE", "--db", str(db)]) == 2
    _one_error(capsys, "error: Parser Error: syntax error")
    assert store_runs.get_run(db, 1)["status"] == "queued"


def test_snapshot_command(db, tmp_path, capsys):
    from tests.store.test_store import _run

    _run(db)
    out = tmp_path / "copy.duckdb"
    assert main(["snapshot", "--out", str(out), "--db", str(db)]) == 0
    assert f"to {out}" in capsys.readouterr().out
    assert main(["snapshot", "--out", str(out), "--db", str(db)]) == 2
    _one_error(capsys, "exists; give --force")
    assert main(["snapshot", "--out", str(out), "--force", "--db", str(db)]) == 0
    assert main(["snapshot", "--out", str(tmp_path / "nope" / "x.duckdb"), "--db", str(db)]) == 2
    _one_error(capsys, "does not exist")
    assert main(["sql", "SELECT count(*) AS n FROM runs", "--format", "csv", "--db", str(out)]) == 0
    assert capsys.readouterr().out == "n\n1\n"


# --- counts and messages ---------------------------------------------------------------------


@pytest.mark.parametrize("limit", ["0", "-1"])
def test_list_limit_below_one_is_refused(db, limit, capsys):
    from tests.store.test_store import _run

    _run(db)
    assert main(["list", "--limit", limit, "--db", str(db)]) == 2
    _one_error(capsys, f"--limit must be at least 1, got {limit}")
    assert main(["list", "--limit", "1", "--db", str(db)]) == 0
    assert "vgg16" in capsys.readouterr().out


@pytest.mark.parametrize("argv, env", [(["--slots", "0"], None), (["--slots", "-1"], None), ([], "0"), ([], "x")])
def test_worker_slots_below_one_are_refused_at_parse_time(db, argv, env, monkeypatch, capsys):
    if env is not None:
        monkeypatch.setenv("NST_WORKERS", env)
    with pytest.raises(SystemExit) as exit_:
        main(["worker", *argv, "--db", str(db)])
    lines = capsys.readouterr().err.strip().splitlines()
    assert exit_.value.code == 2 and len(lines) == 1  # no usage block: the one line says where to look
    assert lines[0].startswith("error: workbench worker: argument --slots:") and lines[0].endswith("(see --help)")
    assert not db.exists()


@pytest.mark.parametrize(
    "error, expected", [(None, "run 1 cancelled\n"), ("stopped by SIGTERM", "run 1 cancelled: stopped by SIGTERM\n")]
)
def test_a_cancelled_run_says_so_without_a_dangling_colon(
    db, image_files, models, monkeypatch, capsys, error, expected
):
    import workbench.runner as runner

    monkeypatch.setattr(
        runner, "execute_run", lambda db_, run_id, *a, **kw: runner.RunOutcome(run_id, "cancelled", error)
    )
    content, style = map(str, image_files)
    args = ["run", "--content", content, "--style", style, "--size", "32", "--iterations", "2", "--weights", "none"]
    assert main([*args, "--db", str(db)], models) == 1
    assert capsys.readouterr().err.endswith(expected)


def test_reading_commands_never_load_tensorflow(db, image_files):
    """`list`, `show`, `studies`, `report`, `export`, `sql` and `--help` answer without
    TensorFlow (it takes seconds to import and prints its own log lines)."""
    code = f"""
import contextlib, io, sys
from workbench.__main__ import main
db = {str(db)!r}
for argv in (["list"], ["show", "1"], ["studies"], ["report", "1"], ["sql", "SELECT 1"], ["layers", "vgg16"]):
    if argv[0] == "layers":
        break  # needs the network's graph: the one reading command that loads Keras
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        main([*argv, "--db", db])
    assert "tensorflow" not in sys.modules, argv
try:
    main(["--help"])
except SystemExit:
    pass
print("tensorflow" in sys.modules)
"""
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_a_run_prints_no_tensorflow_log_lines_and_bad_input_one_line(db, image_files):
    content, style = map(str, image_files)
    base = [sys.executable, "-m", "workbench", "run", "--content", content, "--style", style, "--db", str(db)]
    ok = subprocess.run([*base, "--size", "32", "--iterations", "2", "--weights", "none"], cwd=ROOT,
                        capture_output=True, text=True, timeout=300)  # fmt: skip
    assert ok.returncode == 0, ok.stderr
    assert "I0000" not in ok.stderr and "absl" not in ok.stderr and "2/2" in ok.stderr
    for bad in (["--init", "zeros"], ["--seed", "-5"], ["--content-layer", "block5_conv9", "--weights", "none"]):
        out = subprocess.run([*base, *bad], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert out.returncode == 2 and out.stderr.count("\n") == 1 and out.stderr.startswith("error: "), out.stderr
