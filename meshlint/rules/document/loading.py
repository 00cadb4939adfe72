"""ML1xx: the file and its YAML. The loader finds these; this module holds what is said of them."""

from __future__ import annotations

from meshlint import loader
from meshlint.diagnostics import Severity
from meshlint.rules import rule

rule(
    loader.IO_ERROR,
    "unreadable-file",
    Severity.ERROR,
    scope="stage",
    summary="A file could not be read.",
    rationale="""
        The file named on the command line, or found in a folder, could not be opened or read
        (permissions, a broken link, a folder that vanished). Nothing in it was checked, and the
        run exits with status 2.
    """,
    bad="",
    good="",
)

rule(
    loader.SYNTAX,
    "yaml-syntax",
    Severity.ERROR,
    scope="stage",
    summary="The document is not valid YAML.",
    rationale="""
        kubectl and Istio refuse a file that does not parse, and say so one error at a time.
        Common causes: a tab used for indentation, a value with ': ' that needs quotes, a list
        item indented differently from its siblings, a template that was not rendered. The
        documents before and after the broken one are still checked.
    """,
    bad="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
        spec:
          hosts: [reviews
        # expect: ML101@8:1 -
    """,
    good="""
        apiVersion: networking.istio.io/v1
        kind: VirtualService
        metadata:
          name: reviews
        spec:
          hosts: [reviews]
          http:
          - route:
            - destination:
                host: reviews
    """,
)

rule(
    loader.DUPLICATE_KEY,
    "duplicate-key",
    Severity.ERROR,
    scope="stage",
    summary="A key appears twice in one mapping.",
    rationale="""
        YAML forbids it; Kubernetes' strict decoding and `istioctl validate` reject it, and
        lenient tools silently keep the last value, so half of what was written is lost. Two
        resources pasted into one document without a `---` line between them show up as
        duplicate `apiVersion`, `kind`, `metadata` and `spec` keys.
    """,
    bad="""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: reviews
        spec:
          host: reviews
          host: ratings  # expect: ML102@3 -
    """,
    good="""
        apiVersion: networking.istio.io/v1
        kind: DestinationRule
        metadata:
          name: reviews
        spec:
          host: reviews
    """,
)

rule(
    loader.ENCODING,
    "not-utf8-text",
    Severity.ERROR,
    scope="stage",
    summary="The file is binary or not UTF-8 text.",
    rationale="""
        Kubernetes manifests are UTF-8 YAML or JSON. A binary file (an archive, an image, a
        compiled chart) or text in another encoding (Latin-1, say) that ended up among the
        manifests cannot be applied; it is skipped and reported where the first bad byte is.
    """,
    bad="",
    good="",
)

rule(
    loader.NOT_A_RESOURCE,
    "not-a-resource",
    Severity.ERROR,
    scope="stage",
    summary="A document is not a Kubernetes resource.",
    rationale="""
        Every document of a manifest must be a mapping with `apiVersion`, `kind`, `metadata` and
        (for most kinds) `spec`. A bare list, a lone string, or a fragment copied out of a
        larger object (a `livenessProbe` block, a `route` list) cannot be applied. The message
        names the keys the fragment starts with, to help find where it belongs.
    """,
    bad="""
        livenessProbe:  # expect: ML104@1 -
          httpGet:
            path: /health
            port: 8080
    """,
    good="""
        apiVersion: v1
        kind: Pod
        metadata:
          name: web
        spec:
          containers:
          - name: web
            image: nginx:1.27
            livenessProbe:
              httpGet:
                path: /health
                port: 8080
    """,
)

rule(
    loader.TOO_COMPLEX,
    "yaml-too-complex",
    Severity.ERROR,
    scope="stage",
    summary="Aliases or nesting make the document explode in size.",
    rationale="""
        A few anchors and aliases can expand to billions of nodes (the "billion laughs"
        attack), and an alias can point back at its own container. The API server refuses
        such documents; meshlint stops expanding them and skips the document.
    """,
    bad="""
        a: &a [x, x, x, x, x, x, x, x, x, x]
        b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]
        c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]  # expect: ML105@4 -
        d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]
        e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]
    """,
    good="""
        apiVersion: v1
        kind: Namespace
        metadata:
          name: shop
    """,
)

rule(
    loader.COMPLEX_KEY,
    "complex-key",
    Severity.ERROR,
    scope="stage",
    summary="A mapping key is a list or a mapping.",
    rationale="""
        JSON, and so Kubernetes, only has string keys. YAML allows `? [a, b]: c`, which no
        Kubernetes tool can read. The entry is skipped. (A key written as `{{ .Value }}` is an
        unrendered template and is reported as such.)
    """,
    bad="""
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: settings
        data:
          ? [a, b]  # expect: ML106@5 -
          : c
    """,
    good="""
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: settings
        data:
          a: c
    """,
)

rule(
    "ML107",
    "internal-error",
    Severity.ERROR,
    scope="stage",
    summary="A check of meshlint failed on a resource.",
    rationale="""
        A bug in meshlint, not in the manifest: one check raised an error on this resource.
        The other checks and files were still linted. Please report it with the resource.
    """,
    bad="",
    good="",
)
