"""The build's dataset cache: a dataset is read and checked once, later loads give the
same tables and intake log, and any change to the data or the day means a fresh read."""

from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import pandas as pd
import pytest

import rpc_eval.data as rd
import rpc_eval.data.intake as intake
from rpc_eval.data.cache import dataset_key, use_cache
from rpc_eval.errors import DataQualityWarning, DataValidationError

TODAY = "2024-06-01"


def _problem_builder():
    spec = importlib.util.spec_from_file_location(
        "_intake_log_reference", Path(__file__).resolve().parent / "test_intake_log_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_problem_folder


def _load(path: Path, **kwargs) -> tuple[rd.EvaluationData, list]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        data = rd.load(path, today=kwargs.pop("today", TODAY), **kwargs)
    return data, [w for w in caught if issubclass(w.category, DataQualityWarning)]


def _same(a: rd.EvaluationData, b: rd.EvaluationData) -> None:
    for name in rd.TABLES:
        pd.testing.assert_frame_equal(a.table(name), b.table(name), check_exact=True)
        for col in a.table(name).columns:  # missing text is NaN in both, never None
            assert (a.table(name)[col].isna() == b.table(name)[col].isna()).all()
    for part in ("problems", "tables", "excluded"):
        pd.testing.assert_frame_equal(getattr(a.intake_log, part),
                                      getattr(b.intake_log, part), check_exact=True)
    assert a.intake_log.source == b.intake_log.source
    assert sorted(a.codebooks) == sorted(b.codebooks)
    assert a.instruments.available() == b.instruments.available()


class _Counter:
    def __init__(self, monkeypatch):
        self.calls = 0
        real = intake._load

        def counted(*args, **kwargs):
            self.calls += 1
            return real(*args, **kwargs)
        monkeypatch.setattr(intake, "_load", counted)


@pytest.fixture(scope="module")
def problem_folder(tmp_path_factory) -> Path:
    return _problem_builder()(tmp_path_factory.mktemp("cache") / "data")


def test_second_load_comes_from_the_cache_and_is_identical(problem_folder, tmp_path,
                                                            monkeypatch):
    fresh, fresh_warnings = _load(problem_folder)
    assert len(fresh.intake_log.excluded) > 0  # a dataset with problems
    counter = _Counter(monkeypatch)
    with use_cache(tmp_path / ".cache"):
        first, w1 = _load(problem_folder)
        second, w2 = _load(problem_folder)
    assert counter.calls == 1  # read and checked once
    _same(fresh, first)
    _same(fresh, second)
    # the same warning says rows were excluded, cached or not
    assert [str(w.message) for w in w2] == [str(w.message) for w in fresh_warnings]
    assert len(list((tmp_path / ".cache").iterdir())) == 1


def test_changed_data_or_day_is_read_again(problem_folder, tmp_path, monkeypatch):
    folder = tmp_path / "data"
    folder.mkdir()
    for f in problem_folder.iterdir():
        (folder / f.name).write_bytes(f.read_bytes())
    counter = _Counter(monkeypatch)
    with use_cache(tmp_path / ".cache"):
        before, _ = _load(folder)
        text = (folder / "las.csv").read_bytes()
        (folder / "las.csv").write_bytes(text.replace(b"LA 9", b"LA_9"))
        after, _ = _load(folder)
        assert counter.calls == 2
        assert len(after.intake_log.excluded) != len(before.intake_log.excluded) or \
            not after.intake_log.problems.equals(before.intake_log.problems)
        (folder / ".hidden.yaml").write_text("x: 1\n", encoding="utf-8")  # any file counts
        _load(folder)
        assert counter.calls == 3
        _load(folder, today="2024-06-02")
        assert counter.calls == 4
        _load(folder, today="2024-06-02")
        assert counter.calls == 4
    assert dataset_key(folder, pd.Timestamp("2024-06-02")) != dataset_key(
        folder, pd.Timestamp("2024-06-03"))


def test_damaged_entry_is_read_again(problem_folder, tmp_path, monkeypatch):
    with use_cache(tmp_path / ".cache"):
        fresh, _ = _load(problem_folder)
        entry = next((tmp_path / ".cache").iterdir())
        (entry / "table_parents.arrow").write_bytes(b"not arrow")
        counter = _Counter(monkeypatch)
        again, _ = _load(problem_folder)
        assert counter.calls == 1
        _same(fresh, again)
        _load(problem_folder)
        assert counter.calls == 1  # rewritten, then reused


def test_other_options_and_unusable_data_are_not_cached(problem_folder, tmp_path,
                                                         monkeypatch):
    counter = _Counter(monkeypatch)
    with use_cache(tmp_path / ".cache"):
        a, _ = _load(problem_folder, pseudonymise_key="a-long-test-key-0123456789")
        b, _ = _load(problem_folder, pseudonymise_key="a-long-test-key-0123456789")
        assert counter.calls == 2
        assert not (tmp_path / ".cache").exists()
        bad = tmp_path / "bad"
        bad.mkdir()
        (bad / "las.csv").write_text("la_code,la_name,region\nLA1,A,london\n", encoding="utf-8")
        for _ in range(2):
            with pytest.raises(DataValidationError, match="parents"):
                _load(bad)
        assert counter.calls == 4


def test_without_the_cache_nothing_is_written(problem_folder, tmp_path):
    _load(problem_folder)
    assert not any(p.name == ".cache" for p in problem_folder.parent.iterdir())
