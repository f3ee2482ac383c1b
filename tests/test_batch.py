"""Batch helpers: work forked to a second process gives the same result, and the same error, as without it.

The forking cases run in a fresh interpreter: this test process may hold threads started by other tests, and
:func:`yaml2rego._batch.can_fork` then (rightly) refuses to fork.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from typing import Any

import pytest

from yaml2rego._batch import Forked

from .conftest import REPO_ROOT

needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="no os.fork on this platform")


def _in_fresh_interpreter(code: str) -> Any:
    """Run ``code`` (which prints one JSON value last) in a new interpreter with this tree's yaml2rego."""
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        timeout=120,
        check=True,
    )
    return json.loads(result.stdout.splitlines()[-1])


@needs_fork
def test_the_result_is_computed_in_a_child_process() -> None:
    answer = _in_fresh_interpreter(
        """
        import json, os
        from yaml2rego._batch import Forked, can_fork
        with Forked(os.getpid) as child:
            print(json.dumps({"can_fork": can_fork(), "parent": os.getpid(), "child": child.result()}))
        """
    )
    assert answer["can_fork"] is True
    assert answer["child"] != answer["parent"]


@needs_fork
def test_a_child_that_fails_leaves_the_work_to_this_process() -> None:
    """The child dies (here: only in the child); the function runs again here and its result is returned."""
    answer = _in_fresh_interpreter(
        """
        import json, os
        from yaml2rego._batch import Forked
        parent = os.getpid()
        def work():
            if os.getpid() != parent:
                os.abort()
            return "computed here"
        with Forked(work) as child:
            print(json.dumps(child.result()))
        """
    )
    assert answer == "computed here"


@needs_fork
def test_an_error_is_raised_as_it_would_be_without_a_child() -> None:
    answer = _in_fresh_interpreter(
        """
        import json
        from yaml2rego._batch import Forked
        def work():
            raise ValueError("the same message")
        try:
            with Forked(work) as child:
                child.result()
        except ValueError as error:
            print(json.dumps(str(error)))
        """
    )
    assert answer == "the same message"


@needs_fork
def test_a_child_whose_result_is_not_wanted_is_stopped_and_reaped() -> None:
    answer = _in_fresh_interpreter(
        """
        import json, os, time
        from yaml2rego._batch import Forked
        started = time.monotonic()
        child = Forked(lambda: time.sleep(60))
        pid = child._pid
        child.close()
        try:
            os.kill(pid, 0)
            alive = True
        except ProcessLookupError:
            alive = False
        print(json.dumps({"alive": alive, "seconds": time.monotonic() - started}))
        """
    )
    assert answer["alive"] is False
    assert answer["seconds"] < 30


def test_without_fork_the_function_runs_in_this_process() -> None:
    with Forked(os.getpid, fork=False) as work:
        assert work.result() == os.getpid()


def test_without_fork_an_error_is_raised_when_the_result_is_asked_for() -> None:
    def work() -> None:
        raise ValueError("asked for")

    forked = Forked(work, fork=False)  # nothing runs yet
    with pytest.raises(ValueError, match="asked for"):
        forked.result()
