"""cs-pulse: live customer-success metrics from Kafka events, exported to Prometheus."""

__version__ = "0.1.0"
