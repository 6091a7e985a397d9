"""Agents: LLM providers, messages, structured output, tool schemas and model prices.

The provider layer holds no state of a run: `bosun.agents.openai.OpenAIProvider` speaks the
OpenAI chat-completions protocol to any compatible server,
`bosun.agents.anthropic.AnthropicProvider` Anthropic's Messages API (through its SDK, an
optional extra), and `bosun.agents.scripted.ScriptedProvider` answers by rules or a script,
offline and deterministically. Journaling, budgets and the agent loop are built on top of them.
"""
