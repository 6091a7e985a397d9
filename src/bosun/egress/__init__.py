"""Network egress: what code run for an App may reach, and how it gets there.

Both the sandbox (code an agent runs) and webhook delivery send requests on behalf of someone
else, so neither may reach the worker's own network. The guard is one piece, used by both:

- `addresses`: which IP addresses are internal (loopback, private, link-local, cloud
  metadata…) and refused unless listed, judged after DNS resolution;
- `hosts`: `HostAllowList`, the `network_hosts=[...]` entries a sandboxed call may reach;
- `proxy`: `EgressProxy`, the HTTP/HTTPS forward proxy a sandboxed call's traffic goes
  through, checking each destination against its allow-list;
- `fetch`: `http_fetch`, one checked HTTP(S) request (an agent's fetch tool, a webhook).

It imports nothing of bosun but its errors.
"""
