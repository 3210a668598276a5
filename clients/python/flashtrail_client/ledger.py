"""A small HTTP client for the flashtrail ledger API (urllib only). Failures are exceptions with one clear
line: `LedgerError` carries the ledger's RFC 9457 problem document and its stable `code`;
`LedgerUnreachable` means no answer at all."""
from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

MAX_RESPONSE_BYTES = 64 * 1024 * 1024


class LedgerError(Exception):
    """The ledger answered with an error: `status`, `code` (e.g. RULE_VIOLATION), `detail` and the whole
    `problem` document (with `rule`, `index`, `eventId` where they apply)."""

    def __init__(self, status: int, problem: dict) -> None:
        self.status = status
        self.problem = problem
        self.code = str(problem.get("code", "HTTP_ERROR"))
        self.detail = str(problem.get("detail", ""))
        self.rule = problem.get("rule")
        super().__init__(f"{status} {self.code}: {self.detail}" + (f" (rule {self.rule})" if self.rule else ""))


class LedgerUnreachable(Exception):
    """No HTTP answer: the ledger is down, the address is wrong, or the network is in the way."""


class LedgerClient:
    def __init__(self, base_url: str, token: str, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.timeout = timeout

    def __repr__(self) -> str:  # never print the token
        return f"LedgerClient({self.base_url!r})"

    # -- appends ------------------------------------------------------------------------------------------

    def append(self, envelopes: list[dict], path: str = "/v1/events") -> list[dict]:
        """Appends signed envelopes, all or nothing; returns one result per event (stream, revision,
        position, digest, duplicate). A retry of the same events is harmless: appends are idempotent by id."""
        return self.request("POST", path, {"events": envelopes})["events"]

    def append_admin(self, envelopes: list[dict]) -> list[dict]:
        return self.append(envelopes, "/v1/admin/events")

    # -- reads --------------------------------------------------------------------------------------------

    def stream_head(self, stream: str) -> tuple[int, str | None]:
        """(revision, digest) of a stream's last event; (-1, None) for a stream with no events yet."""
        head = self.request("GET", "/v1/streams/" + urllib.parse.quote(stream, safe="") + "/head")
        return int(head["revision"]), head["digest"]

    def unit(self, serial: str) -> dict:
        return self.request("GET", "/v1/units/" + urllib.parse.quote(serial, safe=""))

    def unit_events(self, serial: str) -> dict:
        return self.request("GET", "/v1/units/" + urllib.parse.quote(serial, safe="") + "/events")

    def provenance(self, serial: str) -> dict:
        return self.request("GET", "/v1/units/" + urllib.parse.quote(serial, safe="") + "/provenance")

    def station(self, station_id: str) -> dict:
        """A station's registration and keys ({keyId, publicKey, registeredAt, revokedAt}), with its signed history."""
        return self.request("GET", "/v1/stations/" + urllib.parse.quote(station_id, safe=""))

    def batch(self, batch_id: str) -> dict:
        return self.request("GET", "/v1/batches/" + urllib.parse.quote(batch_id, safe=""))

    def release(self, release_id: str) -> dict:
        return self.request("GET", "/v1/releases/" + urllib.parse.quote(release_id, safe=""))

    def ledger_key(self) -> str:
        """The verifier key the ledger serves. Pin your own copy for audits: a server can lie about itself."""
        return self.request_text("GET", "/v1/ledger/key").strip()

    # -- transport ----------------------------------------------------------------------------------------

    def request(self, method: str, path: str, body: object = None) -> dict:
        text = self.request_text(method, path, body)
        try:
            return json.loads(text)
        except ValueError:
            raise LedgerError(0, {"code": "HTTP_ERROR", "detail": f"{method} {path}: the answer is not JSON"}) from None

    def request_text(self, method: str, path: str, body: object = None) -> str:
        headers = {"Authorization": f"Bearer {self._token}", "Accept": "application/json, application/problem+json, text/plain"}
        data = None
        if body is not None:
            data = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(self.base_url + path, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return _read_bounded(response).decode("utf-8")
        except urllib.error.HTTPError as error:
            raise _error_from(error) from None
        except urllib.error.URLError as error:
            raise LedgerUnreachable(f"cannot reach the ledger at {self.base_url}: {_reason(error.reason)}") from None
        except (TimeoutError, ConnectionError) as error:
            raise LedgerUnreachable(f"cannot reach the ledger at {self.base_url}: {_reason(error)}") from None


def _read_bounded(response) -> bytes:
    data = response.read(MAX_RESPONSE_BYTES + 1)
    if len(data) > MAX_RESPONSE_BYTES:
        raise LedgerError(0, {"code": "HTTP_ERROR", "detail": f"the answer is larger than {MAX_RESPONSE_BYTES} bytes"})
    return data


def _error_from(error: urllib.error.HTTPError) -> LedgerError:
    text = error.read(1024 * 1024).decode("utf-8", "replace")
    try:
        problem = json.loads(text)
        if not isinstance(problem, dict):
            raise ValueError
    except ValueError:
        problem = {"type": "about:blank", "title": error.reason, "status": error.code, "detail": text[:500], "code": "HTTP_ERROR"}
    return LedgerError(error.code, problem)


def _reason(reason: object) -> str:
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused"
    if isinstance(reason, (TimeoutError,)):
        return "timed out"
    return str(getattr(reason, "strerror", None) or reason)
