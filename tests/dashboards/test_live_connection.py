"""The live connection (static/js/live/connection.js) in the real browser against a WebSocket
server that Playwright plays (`route_web_socket`): what it subscribes to, on every socket, and
when it asks for the data a dropped socket missed."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

from playwright.async_api import Page, WebSocketRoute

from tests.dashboards.conftest import UNREACHABLE_BACKEND

START = """async (url) => {
  const { LiveConnection } = await import("/static/js/live/connection.js");
  const { dispatcher, messageHandlers } = await import("/static/js/live/messages.js");
  const { Store } = await import("/static/js/state/store.js");
  window.events = [];
  const live = new LiveConnection({
    onMessage: (text) => dispatch(text),
    onState: (state) => events.push(state),
    onResume: () => events.push("resume"),
  });
  const handlers = messageHandlers({ store: new Store(), router: {}, connection: live });
  const dispatch = dispatcher(handlers);
  window.live = live;
  live.subscribe({ hosts: "*" });
  live.start(url);
}"""


def play_backend(
    sockets: list[WebSocketRoute], received: list[tuple[int, Any]]
) -> Callable[[WebSocketRoute], None]:
    """A /ws that answers every subscribe with `subscribed`, as the backend does."""

    def backend(socket: WebSocketRoute) -> None:
        index = len(sockets)
        sockets.append(socket)

        def answer(text: str | bytes) -> None:
            message = json.loads(text)
            received.append((index, message))
            if message["type"] == "subscribe":
                socket.send(json.dumps({"type": "subscribed", "hosts": message["hosts"]}))

        socket.on_message(answer)

    return backend


WS_URL = UNREACHABLE_BACKEND.replace("http", "ws") + "/ws"


async def test_the_subscription_follows_every_socket_and_a_gap_is_refilled_once(
    module_page: Page,
) -> None:
    sockets: list[WebSocketRoute] = []
    received: list[tuple[int, Any]] = []
    await module_page.route_web_socket(re.compile(r"/ws$"), play_backend(sockets, received))
    await module_page.evaluate(START, WS_URL)
    await module_page.wait_for_function("() => events.includes('live')")

    # A view changing what it wants (issue 14's host view) re-subscribes on the same socket:
    # no gap, so nothing is reloaded.
    await module_page.evaluate("() => live.subscribe({ hosts: ['web-1'] })")
    await module_page.wait_for_function("() => events.filter((e) => e === 'live').length === 2")
    await sockets[0].close(code=1013, reason="too slow; reconnect")
    await module_page.wait_for_function("() => events.includes('resume')", timeout=10_000)
    await module_page.evaluate("() => live.stop()")

    assert received == [
        (0, {"type": "subscribe", "hosts": "*"}),
        (0, {"type": "subscribe", "hosts": ["web-1"]}),
        (1, {"type": "subscribe", "hosts": ["web-1"]}),  # the new socket asks for the same
    ]
    events = await module_page.evaluate("() => events")
    assert events == [
        "connecting",
        "live",
        "live",
        "reconnecting",
        "connecting",
        "live",
        "resume",  # once, after the reply on the new socket: the gap's data is fetched
        "offline",
    ]


async def test_a_new_session_subscribes_afresh_and_resumes_nothing(module_page: Page) -> None:
    sockets: list[WebSocketRoute] = []
    received: list[tuple[int, Any]] = []
    await module_page.route_web_socket(re.compile(r"/ws$"), play_backend(sockets, received))
    await module_page.evaluate(START, WS_URL)
    await module_page.wait_for_function("() => events.includes('live')")
    # Log-out, then log-in (main.js subscribes again before it starts).
    await module_page.evaluate(
        "(url) => { live.stop(); live.subscribe({ hosts: '*' }); live.start(url); }", WS_URL
    )
    await module_page.wait_for_function("() => events.filter((e) => e === 'live').length === 2")
    await module_page.evaluate("() => live.stop()")

    assert received == [
        (0, {"type": "subscribe", "hosts": "*"}),
        (1, {"type": "subscribe", "hosts": "*"}),
    ]
    events = await module_page.evaluate("() => events")
    assert events == ["connecting", "live", "offline", "connecting", "live", "offline"]


async def test_starting_again_while_running_keeps_the_socket(module_page: Page) -> None:
    """main.js opens the socket while the session is checked, then starts the session: one
    socket, one subscription; after a stop, a start opens a new one."""
    sockets: list[WebSocketRoute] = []
    received: list[tuple[int, Any]] = []
    await module_page.route_web_socket(re.compile(r"/ws$"), play_backend(sockets, received))
    await module_page.evaluate(START, WS_URL)
    await module_page.evaluate("(url) => live.startOnce(url)", WS_URL)
    await module_page.wait_for_function("() => events.includes('live')")
    await module_page.evaluate("(url) => { live.stop(); live.startOnce(url); }", WS_URL)
    await module_page.wait_for_function("() => events.filter((e) => e === 'live').length === 2")
    await module_page.evaluate("() => live.stop()")
    assert [index for index, _ in received] == [0, 1]
    assert len(sockets) == 2
