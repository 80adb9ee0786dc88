"""Is an MLflow tracking server there? Asked once, in seconds, before MLflow's client retries for minutes.

No MLflow import: a plain GET of the server's /health.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request

from gdsweep.errors import GdsweepError

SERVER_TIMEOUT = 10  # seconds to wait for a tracking server's /health answer
HTTP_DEFAULTS = {
    "MLFLOW_HTTP_REQUEST_MAX_RETRIES": "2",
    "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": "1",
    "MLFLOW_HTTP_REQUEST_TIMEOUT": "20",
}


def require(uri: str) -> None:
    """Fail in seconds, naming tracking.uri, when no MLflow server answers there.

    MLflow's own client retries a dead server for minutes (7 retries, backoff factor 2, 120 s
    timeouts); unless the user set them, gdsweep lowers those to a few seconds in all, so a
    server that dies mid-run is reported quickly too.
    """
    for name, value in HTTP_DEFAULTS.items():
        os.environ.setdefault(name, value)
    try:
        with urllib.request.urlopen(f"{uri.rstrip('/')}/health", timeout=SERVER_TIMEOUT) as answer:
            answer.read()
    except urllib.error.HTTPError as err:  # something answers, but it has no /health
        raise _not_mlflow(uri, f"HTTP {err.code} on /health") from None
    except (OSError, ValueError) as err:
        reason = getattr(err, "reason", None) or err
        raise GdsweepError(
            "tracking.uri",
            f"no MLflow server answers at {uri} ({reason})",
            "start one (mlflow server --host 127.0.0.1 --port 5000), or unset tracking.uri and MLFLOW_TRACKING_URI",
        ) from None
    _require_mlflow_api(uri)


def _require_mlflow_api(uri: str) -> None:
    """A server that answers /health must also answer MLflow's REST API with JSON."""
    probe = f"{uri.rstrip('/')}/api/2.0/mlflow/experiments/get-by-name?experiment_name=Default"
    try:
        with urllib.request.urlopen(probe, timeout=SERVER_TIMEOUT) as answer:
            body = answer.read()
    except urllib.error.HTTPError as err:  # MLflow answers a missing experiment with a JSON error
        if err.code in (401, 403):
            return  # an authenticating MLflow (--app-name basic-auth): the client brings credentials
        body = err.read()
        if not body.lstrip().startswith(b"{"):
            raise _not_mlflow(uri, f"HTTP {err.code} on its REST API") from None
    except (OSError, ValueError) as err:
        raise _not_mlflow(uri, str(getattr(err, "reason", None) or err)) from None
    try:
        json.loads(body)
    except ValueError:
        raise _not_mlflow(uri, "its REST API does not answer JSON") from None


def _not_mlflow(uri: str, what: str) -> GdsweepError:
    return GdsweepError(
        "tracking.uri",
        f"{uri} answers, but not as an MLflow tracking server ({what})",
        "start one (mlflow server --host 127.0.0.1 --port 5000) and use tracking.uri=http://127.0.0.1:5000, or unset it",
    )
