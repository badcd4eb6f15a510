"""The live view: live frames and the client protocol (`messages`), the live channel between
backend processes (`redis_bridge`) and each process's WebSocket clients (`hub`); the frames are
built by the fan-out (`backend.fanout`), the `/ws` route is `backend.api.routes.live`."""
