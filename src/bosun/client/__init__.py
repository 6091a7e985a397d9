"""HTTP clients of a bosun server: `Client` (blocking) and `AsyncClient` (asyncio).

```
with Client("http://127.0.0.1:8000", api_key) as client:
    run = client.submit("publish_report", {"topic": "durable agents"})
    for event in client.events(run.id):
        print(event.type, event.data)
    print(client.result(run.id))
```

Every operation is written once, as a *flow*: a generator that yields commands (send this
request, read the next chunk of that stream, sleep, hand this item to the caller) and is sent
their outcomes. The two clients only carry the commands out, one with blocking and one with
async httpx calls, so they behave the same and no endpoint is written twice.

- `models`: what the API returns (`RunInfo`, `SubmittedRun`, `RunPage`, `RunEvent`,
  `PendingApproval`).
- `commands`: the commands flows yield, and the descriptors that make a flow a method.
- `operations`: the API's operations as flows; how requests are built and answers read.
- `sse`: the `text/event-stream` parser.
- `drivers`: `Client` and `AsyncClient`, which carry the commands out.
"""

from bosun.client.drivers import AsyncClient, Client
from bosun.client.models import PendingApproval, RunEvent, RunInfo, RunPage, SubmittedRun

__all__ = [
    "AsyncClient",
    "Client",
    "PendingApproval",
    "RunEvent",
    "RunInfo",
    "RunPage",
    "SubmittedRun",
]
