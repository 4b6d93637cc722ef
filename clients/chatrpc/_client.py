"""Client: the synchronous SDK client over a grpc.Channel."""

from __future__ import annotations

from collections.abc import Generator, Iterable, Mapping
from types import TracebackType
from typing import Any, Unpack

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from chatrpc import _base, _channel, _messages, _types as t
from chatrpc._background import BackgroundMethods
from chatrpc._data import DataCalls
from chatrpc._data_client import ThreadDataMethods
from chatrpc._errors import from_rpc_error, trailers_of
from chatrpc._thread_edits import ThreadEditMethods
from chatrpc.v1 import chat_service_pb2 as pb, chat_service_pb2_grpc as pb_grpc


class Client(ThreadDataMethods, BackgroundMethods, ThreadEditMethods):
    """Synchronous client for chatrpc.v1.ChatService.

    Args:
        target: gRPC target, for example "127.0.0.1:50051" or "dns:///chat.internal:50051".
        api_key: Sent as `authorization: Bearer <key>` on every call, if given.
        timeout: Default deadline in seconds for every call; None waits indefinitely.
        channel: Use this channel instead of opening one (the client will not close it).
        options: gRPC channel options, for example (("grpc.max_receive_message_length", n),);
            unset, the receive limit is 64 MiB (an Embed answer can be tens of MB).
        service_config: A gRPC service config for the channel; `replica_service_config()`
            balances over several core replicas (round_robin, health checks, safe retries).
            `target` may then be "dns:///name:port" (every address the name resolves to) or
            a comma-separated list of IP addresses ("10.0.0.5:50051,10.0.0.6:50051").
        tls: Connect over TLS, verifying the server against the system's roots (implied by
            any of the three PEM arguments).
        root_certificates: PEM roots that sign the server's certificate (a private CA).
        certificate_chain: PEM client certificate chain, for a server that requires mTLS.
        private_key: PEM private key of `certificate_chain`.
        credentials: Ready `grpc.ChannelCredentials` (they win over the four above).
        keepalive: Send a keepalive ping every this many seconds, with or without calls
            (None: no pings); a ping unanswered for `keepalive_timeout` seconds fails the
            connection and its calls with UnavailableError instead of leaving them to
            their deadlines (a hung server).
        keepalive_timeout: See `keepalive`; reconnection attempts give up after
            `keepalive + keepalive_timeout` seconds.
        hooks: A CallHooks whose metadata goes with every call and which sees every call's
            trailing metadata (request ids, trace context, server timings).

    Every method also takes `timeout` (this call's deadline) and `api_key` (this call's key).

    Example:
        >>> with chatrpc.Client("127.0.0.1:50051") as client:
        ...     print(client.chat("hello", max_tokens=32).content)
        ...     for event in client.chat_stream("hello", max_tokens=32):
        ...         if isinstance(event, chatrpc.MessageDelta):
        ...             print(event.content, end="")
        >>> ca = open("ca.pem", "rb").read()
        >>> secure = chatrpc.Client("chat.internal:50051", root_certificates=ca, keepalive=10)
    """

    def __init__(
        self,
        target: str = _base.DEFAULT_TARGET,
        *,
        api_key: str | None = None,
        timeout: float | None = None,
        channel: grpc.Channel | None = None,
        options: _channel.ChannelOptions = (),
        service_config: Mapping[str, Any] | None = None,
        tls: bool = False,
        root_certificates: bytes | None = None,
        certificate_chain: bytes | None = None,
        private_key: bytes | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        keepalive: float | None = None,
        keepalive_timeout: float = 20.0,
        hooks: t.CallHooks | None = None,
    ) -> None:
        self._owns_channel = channel is None
        self._hooks = hooks
        self._channel = channel or _open(
            _channel.replica_target(target),
            _channel.channel_options(options, service_config, keepalive, keepalive_timeout),
            _channel.channel_credentials(
                tls, root_certificates, certificate_chain, private_key, credentials
            ),
        )
        self._stub = pb_grpc.ChatServiceStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)
        self._api_key = api_key
        self._timeout = timeout

    def chat(
        self,
        messages: _base.Messages | t.ChatRequest,
        *,
        timeout: float | None = None,
        idempotency_key: str | None = None,
        api_key: str | None = None,
        **options: Unpack[_base.TurnOptions],
    ) -> t.Reply:
        """Runs one turn and returns the whole reply.

        Args:
            messages: A `ChatRequest`, or a string (one user message) or a list of `Message`s
                (or mappings of Message's fields) with the request's other fields as `options`.
            timeout: Deadline in seconds for this call (default: the client's).
            idempotency_key: Retries of one turn that carry the same key store it once and
                return the stored reply (needs `thread_id`).
            api_key: The API key for this call (default: the client's).
            **options: Model, thread and sampling settings; see `TurnOptions`.

        Returns:
            The assistant's Reply.

        Raises:
            ChatServiceError: A subclass matching the failure (InvalidRequestError, …).
        """
        request = _base.request_to_pb(_base.chat_request(messages, options), pb.ChatRequest())
        call = _base.UnaryCall("Chat", request, _base.reply_from_pb)
        return self._unary(call, timeout, api_key, idempotency_key)

    def chat_stream(
        self,
        messages: _base.Messages | t.ChatRequest,
        *,
        timeout: float | None = None,
        idempotency_key: str | None = None,
        api_key: str | None = None,
        **options: Unpack[_base.TurnOptions],
    ) -> Generator[t.StreamEvent, None, None]:
        """Runs one turn and yields its events as they arrive; see `chat` for the arguments.

        Yields StreamStart, then MessageDeltas, then StreamFinish, then Usage. Closing the
        iterator early (or breaking out of the loop) cancels the call, and the server stops
        generating.

        Raises:
            ChatServiceError: When the call fails, before or during the stream.
        """
        request = _base.request_to_pb(_base.chat_request(messages, options), pb.StreamChatRequest())
        call = self._stub.StreamChat(
            request,
            timeout=timeout or self._timeout,
            metadata=self._metadata("StreamChat", api_key, idempotency_key),
            wait_for_ready=False,
        )
        try:
            metadata = call.initial_metadata()
            for response in call:
                yield _base.with_server_metadata(_base.event_from_pb(response), metadata)
            self._finished("StreamChat", call.trailing_metadata())
        except grpc.RpcError as exc:
            self._finished("StreamChat", trailers_of(exc))
            raise from_rpc_error(exc) from None
        finally:
            call.cancel()  # a no-op once the stream has ended

    def list_models(
        self, *, timeout: float | None = None, api_key: str | None = None
    ) -> list[t.Model]:
        """The models the server serves, the default first."""
        return self._unary(_base.Calls.list_models(), timeout, api_key)

    def get_thread(
        self, thread_id: str | int, *, timeout: float | None = None, api_key: str | None = None
    ) -> t.Thread:
        """One of the caller's threads with its stored messages, oldest first.

        Raises:
            NotFoundError: No such thread belongs to the caller.
        """
        return self._unary(_base.Calls.get_thread(thread_id), timeout, api_key)

    def list_threads(
        self,
        *,
        page_size: int = 20,
        page_token: str = "",
        user: str = "",
        metadata: Mapping[str, str] | None = None,
        timeout: float | None = None,
        api_key: str | None = None,
    ) -> t.ThreadPage:
        """The caller's threads, most recently updated first, without their messages; only
        those of end user `user` and holding every `metadata` pair when given. The page's
        `total_count` counts every match.

        Example:
            >>> client.list_threads(metadata={"app": "tea"}).total_count
        """
        call = DataCalls.list_threads(page_size, page_token, user, metadata)
        return self._unary(call, timeout, api_key)

    def get_turn(
        self, turn_id: str, *, timeout: float | None = None, api_key: str | None = None
    ) -> t.StoredTurn:
        """One of the caller's stored turns by its id (the id of the reply that stored it).

        Args:
            turn_id: A reply id from `chat()` or `chat_stream()` of a turn on a thread.

        Returns:
            The StoredTurn: its messages, reply, and place in its thread.

        Raises:
            NotFoundError: No such turn belongs to the caller.

        Example:
            >>> reply = client.chat("hello", thread_id="t-1")
            >>> client.get_turn(reply.id).latest
            True
        """
        return self._unary(_base.Calls.get_turn(turn_id), timeout, api_key)

    def delete_turn(
        self, turn_id: str, *, timeout: float | None = None, api_key: str | None = None
    ) -> None:
        """Deletes the latest turn of one of the caller's threads (a thread left empty goes too).

        Raises:
            NotFoundError: No such turn belongs to the caller.
            InvalidRequestError: The turn is not its thread's latest (reason TURN_NOT_LATEST).

        Example:
            >>> client.delete_turn(reply.id)
        """
        self._unary(_base.Calls.delete_turn(turn_id), timeout, api_key)

    def create_space(
        self,
        space_id: str,
        *,
        name: str = "",
        description: str = "",
        timeout: float | None = None,
        api_key: str | None = None,
    ) -> t.Space:
        """Creates a knowledge space owned by the caller (ConflictError if the id exists)."""
        return self._unary(_base.Calls.create_space(space_id, name, description), timeout, api_key)

    def list_spaces(
        self, *, timeout: float | None = None, api_key: str | None = None
    ) -> list[t.Space]:
        """The caller's knowledge spaces, by id."""
        return self._unary(_base.Calls.list_spaces(), timeout, api_key)

    def delete_space(
        self, space_id: str, *, timeout: float | None = None, api_key: str | None = None
    ) -> None:
        """Deletes one of the caller's knowledge spaces with its documents."""
        self._unary(_base.Calls.delete_space(space_id), timeout, api_key)

    def add_document(
        self,
        space_id: str,
        source: str,
        text: str,
        *,
        title: str = "",
        timeout: float | None = None,
        api_key: str | None = None,
    ) -> t.Document:
        """Adds (or replaces, by `source`) a text or Markdown document in a knowledge space."""
        return self._unary(
            _base.Calls.add_document(space_id, source, text, title), timeout, api_key
        )

    def embed(
        self,
        inputs: _messages.EmbedInputs,
        *,
        model: str = "",
        dimensions: int | None = None,
        user: str = "",
        timeout: float | None = None,
        api_key: str | None = None,
    ) -> t.Embeddings:
        """Computes one embedding vector per input text.

        Args:
            inputs: One text, or a list of 1-2048 non-empty texts; or token ids of the
                model's vocabulary instead: one list of ints, or a list of such lists.
            model: A model whose catalog entry embeds; empty selects the default model.
            dimensions: Shorter vectors, for models that support it (else InvalidRequestError).
            user: End-user identifier (not stored).
            timeout: Deadline in seconds for this call (default: the client's).
            api_key: The API key for this call (default: the client's).

        Returns:
            The vectors, in input order (unit length), with the inputs' token count.

        Raises:
            InvalidRequestError: An empty or oversized input, too many inputs, a model that
                does not embed, or `dimensions` it does not support.
            ChatServiceError: A subclass matching any other failure.

        Example:
            >>> result = client.embed(["green tea", "black tea"])
            >>> a, b = (e.values for e in result.embeddings)
            >>> similarity = sum(x * y for x, y in zip(a, b))  # cosine: they are unit vectors
        """
        call = _base.Calls.embed(inputs, model, dimensions, user)
        return self._unary(call, timeout, api_key)

    def health(self, service: str = "", *, timeout: float | None = 5.0) -> str:
        """The server's grpc.health.v1 status for `service` ("" is the whole server).

        Returns:
            "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN" or "UNKNOWN".

        Raises:
            ChatServiceError: The server cannot be reached (UnavailableError) or failed.
        """
        try:
            response = self._health.Check(
                health_pb2.HealthCheckRequest(service=service),
                timeout=timeout,
                wait_for_ready=False,
            )
        except grpc.RpcError as exc:
            raise from_rpc_error(exc) from None
        return str(health_pb2.HealthCheckResponse.ServingStatus.Name(response.status))

    def close(self) -> None:
        """Closes the channel (unless it was passed in)."""
        if self._owns_channel:
            self._channel.close()

    def _unary(
        self,
        call: _base.UnaryCall[_base.R],
        timeout: float | None,
        api_key: str | None,
        idempotency_key: str | None = None,
    ) -> _base.R:
        try:
            response, rpc = getattr(self._stub, call.method).with_call(
                call.request,
                timeout=timeout or self._timeout,
                metadata=self._metadata(call.method, api_key, idempotency_key),
                wait_for_ready=False,
            )
        except grpc.RpcError as exc:
            self._finished(call.method, trailers_of(exc))
            raise from_rpc_error(exc) from None
        self._finished(call.method, rpc.trailing_metadata())
        return _base.with_server_metadata(call.parse(response), rpc.initial_metadata())

    def _metadata(
        self, method: str, api_key: str | None, idempotency_key: str | None
    ) -> tuple[tuple[str, str], ...]:
        extra = self._hooks.outgoing(method) if self._hooks else ()
        return _base.call_metadata(api_key or self._api_key, idempotency_key, extra)

    def _finished(self, method: str, trailing: Iterable[tuple[str, object]] | None) -> None:
        if self._hooks is not None:
            self._hooks.finished(method, _base.text_metadata(trailing))

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _open(
    target: str, options: list[tuple[str, str | int]], credentials: grpc.ChannelCredentials | None
) -> grpc.Channel:
    if credentials is None:
        return grpc.insecure_channel(target, options=options)
    return grpc.secure_channel(target, credentials, options=options)
