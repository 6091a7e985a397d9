"""`BedrockProvider`: models on AWS Bedrock through the Converse API, with `boto3`.

`boto3` is an optional extra (`pip install 'bosun[bedrock]'`). `import bosun` does not load
it: the provider imports it in a thread when it first calls, and says which extra to install
when it is missing. Every call of the (blocking) client runs in a thread, and a stream's
events are read one at a time in a thread, so the worker's event loop never waits on AWS.

Credentials and the region come the AWS way: `boto3`'s standard chain (`AWS_ACCESS_KEY_ID`
and `AWS_SECRET_ACCESS_KEY`, `AWS_PROFILE` and the shared files, SSO, a container's or an
instance's role), the region from the model's `region`, else `AWS_REGION`,
`AWS_DEFAULT_REGION` or the profile's. `check_configuration` tells, at worker start, what to
set when either is missing. The endpoint is Bedrock's own, the model's `base_url` or
`AWS_ENDPOINT_URL_BEDROCK_RUNTIME` (botocore reads it).

botocore's retries are off (`total_max_attempts: 1`): each call is one HTTP request, and the
runtime retries on durable timers. `ThrottlingException`, `ModelNotReadyException` and
`ServiceUnavailableException` are `ProviderRateLimited` (with `Retry-After` when the answer
has one); other 5xx, `ModelTimeoutException`, `ModelErrorException`, an error event in a
stream that says so, lost connections and timeouts are retryable; `ValidationException`,
`AccessDeniedException`, `ResourceNotFoundException` and bad credentials are not, with a hint.
The read timeout is `idle_timeout`: it bounds each wait for bytes, never a whole stream.

The mapping between `ChatRequest` / `ChatResponse` and Converse lives in
`bosun.agents.converse`.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import threading
from collections.abc import AsyncIterator, Iterator, Mapping
from types import ModuleType, TracebackType
from typing import Any

from bosun.agents.converse import Assembly, answer_of, request_params
from bosun.agents.errors import ProviderError, ProviderRateLimited, ProviderTimeout
from bosun.agents.messages import ChatRequest, ChatResponse, StreamDelta
from bosun.errors import ConfigurationError
from bosun.retry import retry_after_seconds

__all__ = [
    "EXTRA",
    "INSTALL",
    "BedrockProvider",
    "check_configuration",
    "load_sdk",
    "sdk_installed",
]

EXTRA = "bedrock"
INSTALL = f"pip install 'bosun[{EXTRA}]'"
SERVICE = "bedrock-runtime"
_SET_REGION = (
    "set AWS_REGION (or AWS_DEFAULT_REGION, a region in the AWS profile, or the model's "
    '"region" in BOSUN_MODELS)'
)
_SET_CREDENTIALS = (
    "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary "
    "ones), or AWS_PROFILE, or run where a role provides them"
)
# Errors by their code (a stream's error events spell it camelCase: `throttlingException`).
_BUSY = {"ThrottlingException": 429, "ModelNotReadyException": 429}
_BUSY_STATUSES = frozenset({429, 503})
_RETRYABLE = frozenset(
    {
        "InternalServerException",
        "ServiceUnavailableException",
        "ModelTimeoutException",
        "ModelErrorException",
        "ModelStreamErrorException",
    }
)
_STATUSES = {  # of a stream's error events, which come inside a 200
    "ThrottlingException": 429,
    "ServiceUnavailableException": 503,
    "InternalServerException": 500,
    "ModelStreamErrorException": 424,
    "ValidationException": 400,
}
_HINTS = {
    "AccessDeniedException": "; the credentials may lack bedrock:InvokeModel (and "
    "bedrock:InvokeModelWithResponseStream) on this model, or the account has no access to it",
    "ResourceNotFoundException": "; check the model id and the region (some models are only "
    "reachable through an inference profile such as us.<model id>)",
    "ValidationException": "; the request does not suit this model",
    "UnrecognizedClientException": f"; check the AWS credentials: {_SET_CREDENTIALS}",
    "InvalidSignatureException": "; check AWS_SECRET_ACCESS_KEY",
    "ExpiredTokenException": "; the AWS session token expired: refresh the credentials",
}


def sdk_installed() -> bool:
    """Whether `boto3` can be imported (without importing it)."""
    return importlib.util.find_spec("boto3") is not None


def load_sdk() -> ModuleType:
    """`boto3`.

    Raises:
        ConfigurationError: it is not installed; the message names the extra.
    """
    try:
        import boto3  # type: ignore[import-untyped]
    except ImportError as exc:
        raise ConfigurationError(
            f"Bedrock models need boto3, which is not installed: {INSTALL}"
        ) from exc
    module: ModuleType = boto3
    return module


def check_configuration(
    model: str, region: str | None = None, profile: str | None = None
) -> str | None:
    """What is missing to call Bedrock `model` (the SDK, a region, credentials), in words
    that say what to set; `None` when nothing is. Blocks: it may import `boto3` and look for
    credentials (a worker does this once, when it starts)."""
    try:
        _session(load_sdk(), model, region, profile)
    except ConfigurationError as exc:
        return str(exc)
    return None


def _session(boto3: ModuleType, model: str, region: str | None, profile: str | None) -> Any:
    """A `boto3` session with a region and credentials. The region is `region`, else
    `AWS_REGION` (which the AWS CLI and the other SDKs read, but boto3 does not), else boto3's
    own (`AWS_DEFAULT_REGION`, the profile's).

    Raises:
        ConfigurationError: the profile does not exist, or no region or credentials are found.
    """
    region = region or os.environ.get("AWS_REGION") or None
    try:
        session = boto3.session.Session(profile_name=profile, region_name=region)
    except Exception as exc:  # ProfileNotFound and its kin: botocore's, not imported here
        raise ConfigurationError(f"Bedrock model {model!r}: {exc}") from exc
    if not session.region_name:
        raise ConfigurationError(f"Bedrock model {model!r} needs an AWS region: {_SET_REGION}")
    if session.get_credentials() is None:
        raise ConfigurationError(
            f"Bedrock model {model!r} found no AWS credentials: {_SET_CREDENTIALS}"
        )
    return session


class BedrockProvider:
    """A provider for models on AWS Bedrock, through the Converse API of `boto3`.

    Args:
        region: the AWS region; when `None`, `AWS_REGION`, `AWS_DEFAULT_REGION` or the
            profile's.
        profile: the AWS profile whose credentials to use; the standard chain when `None`
            (which reads `AWS_PROFILE`).
        endpoint_url: the `bedrock-runtime` endpoint; Bedrock's own (or
            `AWS_ENDPOINT_URL_BEDROCK_RUNTIME`) when `None`. For tests and VPC endpoints.
        timeout: seconds to wait for the next bytes when a call gives no `idle_timeout`.
            Never a limit on a whole streamed call.
        connect_timeout: seconds to open a connection.
    """

    def __init__(
        self,
        *,
        region: str | None = None,
        profile: str | None = None,
        endpoint_url: str | None = None,
        timeout: float = 600.0,
        connect_timeout: float = 10.0,
    ) -> None:
        if endpoint_url is not None and not endpoint_url.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"Bedrock endpoint URL {endpoint_url!r} is not an http(s) URL; use e.g. "
                f"https://bedrock-runtime.us-east-1.amazonaws.com or http://localhost:8080"
            )
        self.region = region
        self.profile = profile
        self.endpoint_url = endpoint_url
        self.timeout = timeout
        self.connect_timeout = connect_timeout
        self._sdk: ModuleType | None = None
        self._session: Any = None
        self._clients: dict[float, Any] = {}  # by read timeout: botocore fixes it per client
        self._lock = threading.Lock()

    async def chat(
        self, request: ChatRequest, *, idle_timeout: float | None = None
    ) -> ChatResponse:
        """The complete answer to `request`, from `converse` (see `Provider.chat`)."""
        idle = self.timeout if idle_timeout is None else idle_timeout
        client = await self._client(request.model, idle)
        try:
            answer = await asyncio.to_thread(client.converse, **request_params(request))
        except Exception as exc:
            raise self._error(exc, idle, client) from exc
        try:
            return answer_of(answer, request.model)
        except ProviderError:
            raise
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise _unexpected(client, answer, exc) from exc

    async def stream(
        self, request: ChatRequest, *, idle_timeout: float | None = None
    ) -> AsyncIterator[StreamDelta | ChatResponse]:
        """Text and reasoning deltas as `converse_stream` sends them, then the assembled
        `ChatResponse` (see `Provider.stream`)."""
        idle = self.timeout if idle_timeout is None else idle_timeout
        client = await self._client(request.model, idle)
        assembly = Assembly(model=request.model)
        events: Any = None
        try:
            answer = await asyncio.to_thread(client.converse_stream, **request_params(request))
            assembly.raw_id = answer.get("ResponseMetadata", {}).get("RequestId")
            events = answer["stream"]
            iterator: Iterator[dict[str, Any]] = iter(events)
            while (event := await asyncio.to_thread(next, iterator, None)) is not None:
                for delta in assembly.feed(event):
                    yield delta
        except ProviderError:
            raise
        except Exception as exc:
            raise self._error(exc, idle, client) from exc
        finally:
            if events is not None:
                events.close()  # releases the connection of a stream left early
        if not assembly.stopped:
            raise ProviderError(
                f"{_origin(client)} closed the stream before it finished (no messageStop)",
                retryable=True,
                status=200,
            )
        yield assembly.response()

    async def aclose(self) -> None:
        """Close the provider's clients; they are made again if it is used afterwards."""
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()

    async def __aenter__(self) -> BedrockProvider:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- the SDK ----------------------------------------------------------------------------

    async def _client(self, model: str, read_timeout: float) -> Any:
        """The `bedrock-runtime` client whose read timeout is `read_timeout`, made (and
        `boto3` imported, credentials found) off the event loop on first use."""
        client = self._clients.get(read_timeout)
        if client is not None:
            return client
        try:
            return await asyncio.to_thread(self._make_client, model, read_timeout)
        except ConfigurationError as exc:  # no retry will install boto3 or set a region
            raise ProviderError(str(exc), retryable=False) from exc

    def _make_client(self, model: str, read_timeout: float) -> Any:
        with self._lock:  # boto3 sessions are not safe to make clients from in parallel
            client = self._clients.get(read_timeout)
            if client is not None:
                return client
            if self._sdk is None or self._session is None:
                self._sdk = load_sdk()
                self._session = _session(self._sdk, model, self.region, self.profile)
            from botocore.config import Config  # type: ignore[import-untyped]

            config = Config(
                connect_timeout=self.connect_timeout,
                read_timeout=read_timeout,
                retries={"total_max_attempts": 1, "mode": "standard"},  # the runtime retries
                user_agent_extra="bosun",
            )
            client = self._session.client(SERVICE, endpoint_url=self.endpoint_url, config=config)
            self._clients[read_timeout] = client
            return client

    def _error(self, exc: Exception, idle: float, client: Any) -> ProviderError:
        """`exc`, raised by botocore (or urllib3 under a stream), as a `ProviderError` that
        says whether to retry."""
        origin = _origin(client)
        import botocore.exceptions  # type: ignore[import-untyped]

        errors = botocore.exceptions
        if isinstance(exc, errors.ClientError):  # an error answer, or a stream's error event
            return _client_error(origin, exc)
        kinds = {kind.__name__ for kind in type(exc).__mro__}
        if "ReadTimeoutError" in kinds:  # botocore's, or urllib3's while a stream is read
            return ProviderTimeout(
                f"{origin} sent nothing for {idle:g} s (idle timeout): the service is "
                f"overloaded or the connection hung"
            )
        if isinstance(exc, errors.NoCredentialsError | errors.PartialCredentialsError):
            return ProviderError(
                f"no usable AWS credentials ({exc}): {_SET_CREDENTIALS}", retryable=False
            )
        if isinstance(exc, errors.NoRegionError):
            return ProviderError(f"no AWS region: {_SET_REGION}", retryable=False)
        dropped = isinstance(exc, errors.ConnectionError | errors.HTTPClientError)
        if dropped or kinds & {"ProtocolError", "HTTPError"}:  # urllib3's, under a stream
            return ProviderError(
                f"{origin} could not be reached or dropped the connection: "
                f"{type(exc).__name__}: {exc}",
                retryable=True,
            )
        if isinstance(exc, errors.BotoCoreError):  # ParamValidationError and the like
            return ProviderError(f"{origin}: {type(exc).__name__}: {exc}", retryable=False)
        raise exc  # not the SDK's: a bug, shown as it is


def _origin(client: Any) -> str:
    return str(client.meta.endpoint_url).rstrip("/")


def _client_error(origin: str, exc: Any) -> ProviderError:
    """A botocore `ClientError`: an HTTP error answer, or (an `EventStreamError`) an error
    event in a stream whose answer began with 200."""
    response: Mapping[str, Any] = exc.response
    error = response.get("Error", {})
    code = str(error.get("Code", ""))
    code = code[:1].upper() + code[1:]  # a stream's events name them camelCase
    detail = error.get("Message") or str(exc)
    meta = response.get("ResponseMetadata", {})
    headers: Mapping[str, str] = meta.get("HTTPHeaders", {})
    status = meta.get("HTTPStatusCode")
    if type(exc).__name__ == "EventStreamError" or not isinstance(status, int):
        where, status = f"{origin} failed mid-stream ({code or 'error'})", _STATUSES.get(code, 500)
    else:
        where = f"{origin} answered {status} {code}".rstrip()
    if code in _BUSY or code == "ServiceUnavailableException" or status in _BUSY_STATUSES:
        retry_after = retry_after_seconds(headers)
        wait = "" if retry_after is None else f"; retry in {retry_after:g} s"
        return ProviderRateLimited(
            f"{where}: {detail}{wait}", retry_after=retry_after, status=_BUSY.get(code, status)
        )
    retryable = code in _RETRYABLE or status >= 500
    return ProviderError(
        f"{where}: {detail}{_HINTS.get(code, '')}", retryable=retryable, status=status
    )


def _unexpected(client: Any, answer: Any, exc: Exception) -> ProviderError:
    try:
        shown = json.dumps(answer, default=str)[:300]
    except Exception:  # anything at all: this is only for the error message
        shown = repr(answer)[:300]
    return ProviderError(
        f"{_origin(client)} answered without the expected fields "
        f"({type(exc).__name__}: {exc}): {shown}",
        retryable=False,
        status=200,
    )
