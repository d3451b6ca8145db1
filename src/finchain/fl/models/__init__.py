"""Model maths shared by the federated protocols (pure numpy, no I/O)."""
