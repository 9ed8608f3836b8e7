"""The shared HTTP sandbox shape: transport faults, the fault plan, the control endpoint."""

from __future__ import annotations

import pytest
import requests

from sandbox.base import FaultPlan
from sandbox.http import HttpSandbox, Request, Response


class EchoSandbox(HttpSandbox):
    """A minimal emulator: answers every request with its method and path."""

    name = "echo"

    def handle(self, request: Request) -> Response:
        return Response.json({"method": request.method, "path": request.path, "body": request.body.decode()})

    def connections(self) -> dict[str, dict]:
        return {"echo_default": {"conn_type": "http", "host": self.url}}


@pytest.fixture
def echo():
    with EchoSandbox() as server:
        yield server


def test_answers_on_a_free_loopback_port_and_logs_requests(echo):
    answer = requests.post(f"{echo.url}/api/x", data=b"hello", timeout=5)

    assert echo.port > 0
    assert answer.json() == {"method": "POST", "path": "/api/x", "body": "hello"}
    assert [(r.method, r.path, r.body) for r in echo.requests] == [("POST", "/api/x", b"hello")]


def test_http_5xx_fault_answers_the_given_status_for_n_requests(echo):
    echo.inject("http_5xx", times=2, status=502)

    statuses = [requests.get(f"{echo.url}/x", timeout=5).status_code for _ in range(3)]

    assert statuses == [502, 502, 200]


def test_drop_fault_closes_the_connection_without_an_answer(echo):
    echo.inject("drop")

    with pytest.raises(requests.ConnectionError):
        requests.get(f"{echo.url}/x", timeout=5)
    assert requests.get(f"{echo.url}/x", timeout=5).status_code == 200


def test_slow_fault_delays_past_a_client_timeout(echo):
    echo.inject("slow", seconds=1.0)

    with pytest.raises(requests.ReadTimeout):
        requests.get(f"{echo.url}/x", timeout=0.3)


def test_malformed_fault_returns_a_broken_body_with_200(echo):
    echo.inject("malformed")

    answer = requests.get(f"{echo.url}/x", timeout=5)

    assert answer.status_code == 200
    with pytest.raises(ValueError):
        answer.json()


def test_control_endpoint_arms_lists_and_clears_faults(echo):
    armed = requests.post(f"{echo.url}/__sandbox__/faults", json={"name": "http_5xx", "times": None}, timeout=5)
    listing = requests.get(f"{echo.url}/__sandbox__/faults", timeout=5).json()
    statuses = [requests.get(f"{echo.url}/x", timeout=5).status_code for _ in range(3)]
    requests.delete(f"{echo.url}/__sandbox__/faults", timeout=5)

    assert armed.status_code == 201
    assert listing["armed"] == [{"name": "http_5xx", "remaining": None, "params": {}}]
    assert statuses == [503, 503, 503]
    assert requests.get(f"{echo.url}/x", timeout=5).status_code == 200
    assert len(echo.requests) == 4, "control calls are not part of the request log"


def test_control_endpoint_rejects_unknown_faults(echo):
    answer = requests.post(f"{echo.url}/__sandbox__/faults", json={"name": "meteor"}, timeout=5)

    assert answer.status_code == 400
    assert "meteor" in answer.json()["error"]


def test_fault_plan_counts_down_and_records_what_fired():
    plan = FaultPlan(frozenset({"a", "b"}))
    plan.inject("a", times=2, code="X")

    taken = [plan.take("a"), plan.take("a"), plan.take("a"), plan.take("b")]

    assert [f.params if f else None for f in taken] == [{"code": "X"}, {"code": "X"}, None, None]
    assert plan.fired == ["a", "a"]
    with pytest.raises(ValueError):
        plan.inject("a", times=0)
