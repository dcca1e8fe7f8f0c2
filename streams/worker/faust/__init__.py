"""Everything that patches faust-streaming, mode-streaming or aiokafka internals, behind
one version and source check (`compat`). Nothing outside this package does."""
