"""The browser harness itself: in CI a missing browser fails the run instead of skipping it."""
import pytest

from .conftest import unavailable


@pytest.mark.parametrize("env, outcome", [({"CI": "true"}, pytest.fail.Exception),
                                          ({"CI": "true", "XVIZ_BROWSER_OPTIONAL": "1"}, pytest.skip.Exception),
                                          ({}, pytest.skip.Exception)])
def test_a_missing_browser_fails_in_ci_and_skips_elsewhere(monkeypatch, env, outcome):
    for key in ("CI", "XVIZ_BROWSER_OPTIONAL"):
        monkeypatch.delenv(key, raising=False)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(outcome, match="no chromium"):
        unavailable("no chromium on PATH")
