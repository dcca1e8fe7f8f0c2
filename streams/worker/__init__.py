"""The Faust shell of `pulse worker`: app, per-partition state and its transactions,
delivery, telemetry, settings, HTTP views. Only `worker.faust` touches Faust internals."""
