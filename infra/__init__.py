"""The CDK stack: one construct per concern, composed by GuardrailsStack."""
