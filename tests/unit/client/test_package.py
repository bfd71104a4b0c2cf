"""The package root: light to import, and every exported name is the real thing."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys

import pytest

import stackduck
from stackduck.client import AsyncClient, Client
from stackduck.client.address import server_address
from stackduck.domain import errors
from stackduck.settings import Settings


def test_importing_stackduck_imports_neither_grpc_nor_the_client() -> None:
    probe = (
        "import sys, stackduck; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('grpc', 'google', 'stackduck')))"
    )
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout

    assert loaded.strip() == "['stackduck']"


def test_the_root_exports_the_client_and_the_errors() -> None:
    assert stackduck.Client is Client and stackduck.AsyncClient is AsyncClient
    assert stackduck.StorageUnavailable is errors.StorageUnavailable
    assert {"Client", "AsyncClient", "Worker", "JobInfo", "InvalidJob", "JobNotFound"} <= set(
        stackduck.__all__
    )
    for name in stackduck.__all__:
        assert getattr(stackduck, name) is not None
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        _ = stackduck.Nope


def test_handlers_signals_and_the_result_errors_are_exported_from_the_root() -> None:
    from stackduck.client import errors as client_errors
    from stackduck.client import handlers

    assert (stackduck.NoRetry, stackduck.RetryIn) == (handlers.NoRetry, handlers.RetryIn)
    assert stackduck.JobFailed is client_errors.JobFailed
    assert stackduck.JobCancelled is client_errors.JobCancelled
    assert {"NoRetry", "RetryIn", "JobFailed", "JobCancelled", "AttemptInfo"} <= set(stackduck.__all__)
    for result_error in (stackduck.JobFailed, stackduck.JobCancelled):
        assert issubclass(result_error, errors.StackduckError)
        assert "client.result(" in (result_error.__doc__ or "")
    # What a handler raises is no Stackduck error: a handler's own signal to the worker.
    assert not issubclass(stackduck.NoRetry, errors.StackduckError)


def test_watching_and_stopping_values_are_exported_from_the_root() -> None:
    from stackduck.client import handlers, jobs

    assert (stackduck.JobEvent, stackduck.JobStop) == (jobs.JobEvent, jobs.JobStop)
    assert stackduck.RunningJob is handlers.RunningJob and issubclass(stackduck.RunningJob, stackduck.JobInfo)
    assert {"JobEvent", "JobStop", "RunningJob"} <= set(stackduck.__all__)


def test_the_sync_client_has_every_call_of_the_async_one() -> None:
    def calls(cls: type) -> set[str]:
        return {
            name
            for name, _ in inspect.getmembers(cls, inspect.iscoroutinefunction)
            if not name.startswith("_")
        }

    blocking = calls(AsyncClient) - {"close"}
    assert blocking <= set(vars(Client))
    assert "result" in blocking and inspect.isgeneratorfunction(Client.watch)  # a blocking iterator
    for name in blocking:
        assert inspect.signature(getattr(Client, name)).parameters.keys() == (
            inspect.signature(getattr(AsyncClient, name)).parameters.keys()
        )


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"SERVER_ADDR": "10.1.2.3:6000"},
        {"SERVER_ADDR": "6001"},
        {"GRPC_PORT": "6002"},
        {"SERVER_ADDR": "127.0.0.1:6003", "GRPC_PORT": "6004"},
        {"STACKDUCK_SERVER_ADDR": "localhost:6005"},
    ],
)
def test_the_client_finds_the_server_where_the_same_environment_makes_it_listen(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("SERVER_ADDR", "STACKDUCK_SERVER_ADDR", "GRPC_PORT"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    assert server_address() == Settings(_env_file=None).listen_address


def test_an_address_argument_wins_and_every_interface_means_the_loopback() -> None:
    assert server_address("h:1", environ={"SERVER_ADDR": "x:2"}) == "h:1"
    assert server_address(environ={"SERVER_ADDR": "0.0.0.0:7000"}) == "127.0.0.1:7000"
    assert server_address(environ={"SERVER_ADDR": "[::]:7000"}) == "[::1]:7000"
    assert server_address("7001", environ=os.environ) == "127.0.0.1:7001"


def test_schedule_values_are_exported_from_the_root() -> None:
    from stackduck.client import schedules

    assert stackduck.ScheduleInfo is schedules.ScheduleInfo
    assert stackduck.ScheduleNotFound is errors.ScheduleNotFound
    assert issubclass(stackduck.ScheduleNotFound, errors.NotFound)
    assert not issubclass(stackduck.ScheduleNotFound, stackduck.JobNotFound)
    assert {"ScheduleInfo", "ScheduleNotFound"} <= set(stackduck.__all__)


def test_limit_info_is_exported_from_the_root() -> None:
    from stackduck.client import limits

    assert stackduck.LimitInfo is limits.LimitInfo
    assert "LimitInfo" in stackduck.__all__
