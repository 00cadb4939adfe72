"""The included proxy: an asyncio HTTP/1.1 proxy that runs a Plan.

It does what the Envoy bootstrap of the same Plan does (tests/dataplane holds both to the same
scenarios): routes by Host and match, splits by weight, redirects, rewrites, answers directly,
edits headers, retries, times out, injects faults, mirrors, limits connections, ejects
outliers, balances load, authorizes (mutual TLS, JWT, AuthorizationPolicy) and logs.

Layout: ``http`` (requests, responses, local replies), ``router`` (the Plan's routes, compiled),
``balancer`` (endpoints, load balancing, outlier detection), ``upstream`` (connection pools),
``policy`` (JWT and authorization), ``tls`` (contexts and peer identities), ``telemetry``
(stats and access logs), ``server`` (listeners and the exchange of one request), ``admin``
and ``runner`` (the process: signals, reloads, workers). It reads the Plan only.
"""
