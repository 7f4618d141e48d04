"""Calls that work wherever phones are: real phones on one host register with
``sipwire serve`` (default configuration, digest on) and call each other
through it, on every transport and across transports, with Kamailio in front
of it and behind it.  A cell passes only when every request of the dialog
arrived at the far end: the callee got the ACK, the re-INVITE and the BYE;
the caller got the BYE when the callee hung up (RFC 3261 §12-§15).

The cells (``matrix/cells.py``) run side by side, each with its own server,
phones and ports; the ones selected here (``-k``, or a node id such as
``test_calls_matrix.py::test_call[udp-tcp]``) are run once, by the module's
fixture, and each test reports its cell.  The matrix is printed at the end of
the run.  Each cell's logs (serve.log, baresip.log, SIPp's messages.log,
kamailio.log, the capture) stay in its directory under pytest's basetemp.
Programs that are missing skip their cells, unless CI=true or
SIPWIRE_REQUIRE_<PROGRAM>=1.
"""

from __future__ import annotations

import asyncio

import pytest

from .matrix.cells import CELL_IDS, run_cells
from .matrix.report import RESULTS, CellResult


@pytest.fixture(scope="module")
def matrix(request: pytest.FixtureRequest,
           tmp_path_factory: pytest.TempPathFactory) -> dict[str, CellResult]:
    selected = [item.callspec.params["cell"] for item in request.session.items
                if item.module is request.module and hasattr(item, "callspec")]
    results = asyncio.run(run_cells(selected, tmp_path_factory.mktemp("calls")))
    RESULTS.update(results)
    return results


@pytest.mark.parametrize("cell", CELL_IDS)
def test_call(cell: str, matrix: dict[str, CellResult]) -> None:
    result = matrix[cell]
    if result.skipped is not None:
        pytest.skip(result.skipped)
    assert result.status == "pass", result.explain()
