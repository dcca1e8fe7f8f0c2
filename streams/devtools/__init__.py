"""Developer tools: a local Apache Kafka broker and a local Prometheus, and their files."""
