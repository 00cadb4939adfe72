"""The rules library: grammars, type guards, walkers, suggestions and placeholder detection
that rule modules share. It declares no rule and imports no rule module."""
