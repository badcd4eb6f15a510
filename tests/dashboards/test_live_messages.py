"""Live messages by `type` (static/js/live/messages.js), in the real browser: each goes to its one
handler, anything else is dropped, and every handled one is timed for the benchmark."""

from __future__ import annotations

from typing import Any

from playwright.async_api import Page

DISPATCH = """async (texts) => {
  const { dispatcher, messageHandlers } = await import("/static/js/live/messages.js");
  const { Store } = await import("/static/js/state/store.js");
  const store = new Store();
  const shownFrames = [];
  let confirmed = 0;
  const router = { active: { onFrame: (frame) => shownFrames.push(frame.host) } };
  const connection = { confirm: () => confirmed++ };
  const dispatch = dispatcher(messageHandlers({ store, router, connection }));
  performance.clearMeasures("hostpulse:live-update");
  for (const text of texts) dispatch(text);
  await new Promise((resolve) => setTimeout(resolve, 0));
  return {
    hosts: store.hosts.names(),
    shownFrames,
    alerts: store.alerts.all().map((a) => `${a.rule} ${a.state}`),
    confirmed,
    timed: performance.getEntriesByName("hostpulse:live-update").length,
  };
}"""


async def test_each_message_type_reaches_its_handler_and_nothing_else(module_page: Page) -> None:
    texts = [
        '{"type":"subscribed","hosts":"*"}',
        '{"type":"samples","host":"web-1","accepted_ms":1,"samples":[],"processes":null}',
        '{"type":"alert","rule":"HighCpu","labels":{"host":"web-1"},"host":"web-1","to":"firing"}',
        '{"type":"pong"}',
        # Dropped: a type this UI does not know (a newer backend), a name every object has,
        # no type, not an object, not JSON.
        '{"type":"summary","host":"web-2"}',
        '{"type":"constructor"}',
        '{"host":"web-3"}',
        "null",
        "not json",
    ]
    result: dict[str, Any] = await module_page.evaluate(DISPATCH, texts)
    assert result == {
        "hosts": ["web-1"],
        "shownFrames": ["web-1"],  # the store has the frame, and the view shown is handed it
        "alerts": ["HighCpu firing"],
        "confirmed": 1,
        "timed": 4,
    }
