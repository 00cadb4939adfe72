"""meshlint: lint Istio service-mesh manifests and translate them into configs that run."""

__version__ = "0.1.0"
