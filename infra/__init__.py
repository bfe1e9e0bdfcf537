"""CDK constructs for smokejumper, one module per concern, composed in `infra.stack`."""
