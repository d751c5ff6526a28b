"""Observability: structured logs, Prometheus metrics, categorised error logs, processing aggregates and
scheduled maintenance. Import the submodules directly (``samtale.observability.metrics``…); this package
module stays empty so importing one piece never drags in the others."""
