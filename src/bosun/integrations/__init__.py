"""Adapters that run agents written with other SDKs durably on bosun (docs/integrations.md).

Each lives in its own module and imports its SDK (an optional extra) only there, so neither
`import bosun` nor `import bosun.integrations` needs any of them.
"""
