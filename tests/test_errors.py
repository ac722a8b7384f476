import doctest
import pickle

import pytest

import higgsflow
import higgsflow.errors
from higgsflow.errors import (
    CheckpointError,
    ConfigError,
    DataError,
    FitError,
    HiggsflowError,
    ModelError,
    SchemaError,
)


def test_doctests_of_errors_module():
    result = doctest.testmod(higgsflow.errors)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.parametrize(
    ("cls", "parent"),
    [
        (ConfigError, HiggsflowError),
        (DataError, HiggsflowError),
        (SchemaError, DataError),
        (ModelError, HiggsflowError),
        (CheckpointError, ModelError),
        (FitError, HiggsflowError),
    ],
)
def test_hierarchy(cls, parent):
    assert issubclass(cls, parent)
    assert getattr(higgsflow, cls.__name__) is cls


def test_message_names_file_field_row_and_expectation():
    err = DataError("NaN value", file="a.root", field="part_d0val", row=17, expected="finite numbers")
    assert str(err) == "a.root: part_d0val: row 17: NaN value (expected finite numbers)"
    assert str(ConfigError("unknown key")) == "unknown key"
    assert "\n" not in str(err)


def test_survives_pickling_with_its_fields():
    err = FitError("Minuit did not converge", field="mu_ttHcc", expected="a finite minimum")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is FitError
    assert (back.field, back.expected, str(back)) == (err.field, err.expected, str(err))
