"""Entry points for serverless platforms: each invocation drains bosun's queues for a time
budget (drain mode) and returns; durable steps carry a run across invocations."""
