"""`/ws`: subscribe to hosts and receive their accepted samples as they arrive."""

from __future__ import annotations

import asyncio
import contextlib

from fastapi import APIRouter, Depends, WebSocket
from starlette.websockets import WebSocketDisconnect

from backend.api.deps import read_access, services
from backend.live.hub import ClientTooSlow, LiveClient
from backend.live.messages import (
    ClientMessageError,
    Ping,
    Subscribe,
    error_message,
    parse_client_message,
    pong_message,
    subscribed_message,
)

router = APIRouter(tags=["live"])

# 1013 "try again later": the client fell too far behind and should reconnect.
_CLOSE_TOO_SLOW = 1013
_SUBSCRIBE_WAIT_SECONDS = 2.0
# One frame not taken by the client's TCP connection within this long: the client is too slow.
_SEND_TIMEOUT_SECONDS = 10.0


@router.websocket("/ws", dependencies=[Depends(read_access)])
async def live(websocket: WebSocket) -> None:
    """Live samples and fleet summaries; the protocol is described in the `live` tag
    (`backend.app.TAGS`) and `backend.live.messages`."""
    hub, metrics = services(websocket).hub, services(websocket).metrics
    await websocket.accept()
    client = hub.connect()
    try:
        sender = asyncio.create_task(_send_frames(websocket, client))
        receiver = asyncio.create_task(_receive_messages(websocket, client))
        done, pending = await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if sender in done and isinstance(sender.exception(), ClientTooSlow):
            metrics.slow_client_closed()
            # The close frame may be stuck behind unsent frames: the server closes the
            # connection itself when the handler returns.
            with contextlib.suppress(RuntimeError, WebSocketDisconnect, OSError, TimeoutError):
                async with asyncio.timeout(_SEND_TIMEOUT_SECONDS):
                    await websocket.close(code=_CLOSE_TOO_SLOW, reason="too slow; reconnect")
    finally:
        hub.disconnect(client)


async def _send_frames(websocket: WebSocket, client: LiveClient) -> None:
    with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
        while True:
            frame = await client.next_frame()
            # A client that stopped reading blocks the send itself (its TCP window is full):
            # it would never take another frame from its queue to be found too slow.
            try:
                async with asyncio.timeout(_SEND_TIMEOUT_SECONDS):
                    await websocket.send_text(frame)
            except TimeoutError:
                raise ClientTooSlow from None


async def _until_listening(websocket: WebSocket, request: Subscribe) -> None:
    """Let the process's Redis subscription to live frames (made on the first client that wants
    some) settle before the `subscribed` reply, so frames published after the reply arrive.
    Redis down: reply anyway."""
    if not request.hosts:
        return
    subscriber = services(websocket).live_subscriber
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(subscriber.subscribed.wait(), _SUBSCRIBE_WAIT_SECONDS)


async def _receive_messages(websocket: WebSocket, client: LiveClient) -> None:
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        payload = message.get("text") or message.get("bytes") or b""
        # Replies go through the client's own queue so they never interleave with a send.
        try:
            request = parse_client_message(payload)
        except ClientMessageError as exc:
            client.offer(error_message(str(exc)))
            continue
        if isinstance(request, Ping):
            client.offer(pong_message())
            continue
        services(websocket).hub.subscribe(client, request.hosts, request.summary)
        await _until_listening(websocket, request)
        client.offer(subscribed_message(request))
        if request.summary:  # the whole fleet, then (every flush) the hosts that changed
            await services(websocket).summary_feed.welcome(client)
