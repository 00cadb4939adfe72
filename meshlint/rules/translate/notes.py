"""The translation's findings: fields it does not translate, destinations without endpoints."""

from __future__ import annotations

from meshlint.diagnostics import Severity
from meshlint.rules import rule

rule(
    "ML001",
    "not-translated",
    Severity.WARNING,
    summary="A field of a resource the proxy uses is not translated into its config.",
    rationale="""
        `meshlint translate` turns every field of the nine Istio kinds that Envoy can express
        into the proxy's config. A few cannot be expressed for a proxy that runs without
        traffic capture (TCP and TLS routes, which need a listener per destination address),
        need something meshlint does not run (a CUSTOM authorization provider, a Kubernetes
        Secret served over SDS), or are Istio-only (the `istio.stats` metrics filter). Rather
        than drop such a field silently, the translation reports it at its place, with the
        reason; docs/translation.md lists every field and what becomes of it.
    """,
    bad="""
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: cart
          namespace: shop
        spec:
          selector:
            matchLabels: {app: cart}
          template:
            metadata:
              labels: {app: cart}
            spec:
              containers:
              - name: cart
                image: shop/cart:1.0
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: mysql
          namespace: shop
        spec:
          ports: [{name: tcp-mysql, port: 3306}]
        ---
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: mysql
          namespace: shop
        spec:
          hosts: [mysql]
          tcp:  # expect: ML001@3 spec.tcp
          - route:
            - destination:
                host: mysql
    """,
    good="""
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: cart
          namespace: shop
        spec:
          selector:
            matchLabels: {app: cart}
          template:
            metadata:
              labels: {app: cart}
            spec:
              containers:
              - name: cart
                image: shop/cart:1.0
        ---
        apiVersion: v1
        kind: Service
        metadata:
          name: reviews
          namespace: shop
        spec:
          ports: [{name: http, port: 9080}]
        ---
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
          namespace: shop
        spec:
          hosts: [reviews]
          http:
          - route:
            - destination:
                host: reviews
    """,
    scope="stage",
    source="meshlint: the translation's table of fields (meshlint/translate/support.py)",
)

rule(
    "ML002",
    "destination-without-endpoints",
    Severity.WARNING,
    summary="A route or mirror goes to a host that is no service of the run, so its cluster "
    "has no endpoints.",
    rationale="""
        Istio builds clusters for the hosts of its registry (Kubernetes Services,
        ServiceEntries). A VirtualService destination that is neither gets no cluster in
        istiod's config and every request to it fails (503, `NC`). The translation keeps the
        route and gives its cluster no endpoints, which fails the same way, and says so here.
        Define the host (a ServiceEntry for an external one), or fix its name. The same holds
        for a subset that no DestinationRule applying to the host declares (istiod builds
        subset clusters from the DestinationRule it applies, and a rule whose host is written
        `name.ns` applies to no Service).
    """,
    bad="""
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: cart
          namespace: shop
        spec:
          selector:
            matchLabels: {app: cart}
          template:
            metadata:
              labels: {app: cart}
            spec:
              containers:
              - name: cart
                image: shop/cart:1.0
        ---
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
          namespace: shop
        spec:
          hosts: [reviews.example.com]
          http:
          - route:
            - destination:
                host: reviews.example.com  # expect: ML002@15 spec.http[0].route[0].destination.host
    """,
    good="""
        apiVersion: apps/v1
        kind: Deployment
        metadata:
          name: cart
          namespace: shop
        spec:
          selector:
            matchLabels: {app: cart}
          template:
            metadata:
              labels: {app: cart}
            spec:
              containers:
              - name: cart
                image: shop/cart:1.0
        ---
        apiVersion: networking.istio.io/v1
        kind: ServiceEntry
        metadata:
          name: reviews
          namespace: shop
        spec:
          hosts: [reviews.example.com]
          ports: [{number: 80, name: http, protocol: HTTP}]
          resolution: DNS
        ---
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
          namespace: shop
        spec:
          hosts: [reviews.example.com]
          http:
          - route:
            - destination:
                host: reviews.example.com
    """,
    scope="stage",
    source="istio/istio pilot/pkg/networking/core/route/route.go (no cluster for a host "
    "outside the registry)",
)
