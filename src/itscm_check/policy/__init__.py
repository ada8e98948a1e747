"""The policy language: rules, their conditions and parameters, and how policy files load."""
