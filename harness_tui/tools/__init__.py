"""The tools a model can call, each with the JSON schema it sees."""
