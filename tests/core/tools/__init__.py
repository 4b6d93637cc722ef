"""Tests of core.tools; contract.py holds the suite every parser format runs."""

import pytest

# contract.py is not a test_*.py module, so pytest would not rewrite its asserts by itself.
pytest.register_assert_rewrite("tests.core.tools.contract")
