"""Refunds: the app of the README's "Writing workflows" section and the sections after it.

The code from `import bosun` to `main` is the README's snippet, as is; the stand-ins for a
payment provider and a shop follow it, so the example runs offline.

    python examples/refund.py                      # starts a refund, approves it, prints it
    bosun worker examples/refund.py                # or serve it from worker processes
    bosun run examples/refund.py refund --input '{"order_id": "A-17"}' --wait
"""

from datetime import timedelta

import bosun
from pydantic import BaseModel

app = bosun.App("refunds")          # database: BOSUN_DATABASE_URL, default sqlite:///.bosun/bosun.db

class Order(BaseModel):
    id: str
    total: float

@app.step(retry=bosun.Retry(attempts=5, initial=1, backoff=2), timeout=30)
async def fetch_order(order_id: str) -> Order:       # side effects live in steps
    return Order(**await shop.get_order(order_id))

@app.step()
def charge(order: Order) -> str:                     # sync steps run on a thread pool
    key = bosun.current_context().idempotency_key    # stable across retries and crashes
    return payments.refund(order.total, idempotency_key=key)

@app.workflow(queue="default")
async def refund(ctx: bosun.Context, order_id: str) -> str:
    order = await fetch_order(order_id)              # journaled: replay returns the recorded Order
    if order.total > 100:
        await ctx.wait_for_signal("approval", timeout=timedelta(days=2))   # suspends, no worker held
    await ctx.sleep(timedelta(seconds=3))            # durable timer: a cooling-off period
    return await charge(order)

@app.step(timeout=120)
async def classify_photo(photo_url: str) -> str:
    return await vision.classify(photo_url)          # a model on the GPU

@app.workflow(queue="gpu")                           # served by `bosun worker … --queue gpu`
async def inspect_damage(ctx: bosun.Context, photo_url: str) -> str:
    return await classify_photo(photo_url)

async def main() -> None:
    async with app, app.worker(concurrency=16):      # or run `bosun worker examples/refund.py`
        handle = await app.start(refund, "A-18", idempotency_key="refund-A-18")
        await handle.signal("approval", {"by": "ann"})
        print(await handle.result(timeout=60))


# Stand-ins for the outside world, so that the example runs offline.


class Shop:
    """The shop's order API."""

    orders = {"A-17": 42.0, "A-18": 180.0}

    async def get_order(self, order_id: str) -> dict[str, object]:
        if order_id not in self.orders:
            raise LookupError(f"there is no order {order_id}")
        return {"id": order_id, "total": self.orders[order_id]}


class Payments:
    """A payment provider's SDK: each idempotency key refunds once, whatever the retries."""

    def __init__(self) -> None:
        self.refunds: dict[str, float] = {}

    def refund(self, amount: float, idempotency_key: str) -> str:
        amount = self.refunds.setdefault(idempotency_key, amount)
        return f"refunded ${amount:.2f}"


class Vision:
    """A vision model; this one judges by the file name."""

    async def classify(self, photo_url: str) -> str:
        return "damaged" if "broken" in photo_url else "looks fine"


shop, payments, vision = Shop(), Payments(), Vision()

if __name__ == "__main__":
    import asyncio

    asyncio.run(main())
