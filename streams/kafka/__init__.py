"""How every command reaches Kafka (`security`: one definition of the options and TLS)
and the project's topics (`topics`): shared by the worker, the CLI, the generator
and the connectors."""
