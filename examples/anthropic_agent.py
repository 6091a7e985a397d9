"""An agent on a native Anthropic model: Claude through the Messages API (the official
`anthropic` SDK), thinking before it acts, asking for several forecasts at once (parallel tool
use), its prompt cached between turns, every turn and tool call journaled.

    pip install 'bosun[anthropic]'
    export ANTHROPIC_API_KEY=sk-ant-…
    bosun dev examples/anthropic_agent.py
    bosun run --url http://127.0.0.1:8000 --api-key "$(cat .bosun/dev-key)" trip_weather \\
        --follow --input '{"question": "Paris or Lisbon: where do I need an umbrella?"}'

The model is named as it is, `anthropic:claude-haiku-4-5`: there is no alias to declare.
`app.models.define` adds settings to that name: extended thinking with a budget of 2,048 tokens
(bosun sends `max_tokens` that much above its default). Claude's thinking streams to the run's
events as `llm.reasoning.delta` beside the answer's `llm.delta`, and is journaled with its
signature: when the model calls a tool, its thinking goes back to it unchanged, as the API
requires. Without `ANTHROPIC_API_KEY` the worker does not start, and says what to set.

`ANTHROPIC_BASE_URL` points it elsewhere: the tests run it offline against a local server that
speaks Anthropic's wire format (tests/e2e/test_anthropic_agent_example.py).
"""

from __future__ import annotations

import bosun

app = bosun.App("trip-weather")

MODEL = "anthropic:claude-haiku-4-5"
app.models.define(MODEL, body={"thinking": {"type": "enabled", "budget_tokens": 2048}})

FORECASTS = {
    "paris": {"sky": "rain", "rain_chance": 0.8, "high_c": 14},
    "lisbon": {"sky": "sunny", "rain_chance": 0.05, "high_c": 24},
    "oslo": {"sky": "snow showers", "rain_chance": 0.6, "high_c": -1},
    "tokyo": {"sky": "cloudy", "rain_chance": 0.3, "high_c": 19},
}


def forecast(city: str) -> dict[str, object]:
    """This weekend's forecast for a city: the sky, the chance of rain (0 to 1), the high in
    degrees Celsius.

    Args:
        city: the city's name, e.g. Paris.
    """
    found = FORECASTS.get(city.strip().lower())
    if found is None:
        known = ", ".join(name.title() for name in FORECASTS)
        raise LookupError(f"no forecast for {city}; I have {known}")
    return {"city": city.strip().title(), **found}


agent = bosun.Agent(
    model=MODEL,
    system=(
        "You help travellers pack. Look up the forecast of every city the question names "
        "(all at once), then answer in two or three sentences: where an umbrella is needed, "
        "and what else to bring."
    ),
    tools=[forecast],
    max_turns=4,
)


@app.workflow(name="trip_weather")
async def trip_weather(ctx: bosun.Context, question: str) -> str:
    """Answer a traveller's question with the forecasts it needs."""
    answer: str = await agent.run(ctx, question)
    return answer
