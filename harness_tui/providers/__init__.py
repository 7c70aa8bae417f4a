"""Model providers: scripted (offline), anthropic, openai and OpenAI-compatible servers."""
