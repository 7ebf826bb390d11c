"""/health/ready on the private stack (tests/stack.py): 503 while PostgreSQL or Redis is stopped,
naming what is down, and 200 again once it is back; /health/live answers 200 throughout."""

import httpx
import pytest

from tests.stack import Stack, wait_until

pytestmark = [pytest.mark.postgres, pytest.mark.faults]

TOKEN = "health-token-for-tests"


@pytest.fixture(scope="module")
def stack():
    stack = Stack()
    stack.env.update(
        {"HEALTH_TOKEN": TOKEN, "HEARTBEAT_SECONDS": "1", "HEALTH_HEARTBEAT_MAX_AGE_SECONDS": "15"}
    )
    yield stack
    stack.close()


def probe(base_url: str) -> tuple[int, dict]:
    try:
        response = httpx.get(
            f"{base_url}/health/ready", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=15
        )
    except httpx.TransportError:
        return 0, {}
    return response.status_code, response.json()


def wait_for_status(base_url: str, status: int, timeout: float = 60) -> dict:
    found = {}

    def reached():
        code, body = probe(base_url)
        found.update(body)
        return code == status

    wait_until(reached, timeout, interval=0.5, what=f"/health/ready to answer {status} (last: {found})")
    return found


def failing(body: dict) -> set[str]:
    return {name for name, check in body["checks"].items() if check["status"] != "ok"}


def test_ready_follows_postgres_and_redis(stack):
    server, base_url = stack.gunicorn(workers=2)
    stack.worker()
    stack.beat()
    body = wait_for_status(base_url, 200)
    assert body["status"] == "ok" and not failing(body)

    stack.postgres.stop("fast")
    body = wait_for_status(base_url, 503, timeout=30)
    assert body["status"] == "unavailable"
    assert "database" in failing(body) and "broker" not in failing(body)
    assert httpx.get(f"{base_url}/health/live").status_code == 200
    stack.postgres.start()
    assert not failing(wait_for_status(base_url, 200))

    stack.redis.kill()
    body = wait_for_status(base_url, 503, timeout=30)
    assert "broker" in failing(body) and "database" not in failing(body)
    assert httpx.get(f"{base_url}/health/live").status_code == 200
    stack.redis.start()
    # Back once the broker answers and beat and the worker, reconnected, have beaten again.
    assert not failing(wait_for_status(base_url, 200, timeout=90))
    assert "Internal Server Error" not in server.log()
